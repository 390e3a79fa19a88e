#!/bin/sh
# Container entrypoint for the hznctl health monitor.
#   docker run -v ./inventory:/inventory:ro -v ./runner.agekey:/run/secrets/runner.agekey:ro \
#     -p 9530:9530 IMAGE
# Environment: HZNCTL_INVENTORY (/inventory), HZNCTL_LISTEN (0.0.0.0:9530),
# HZNCTL_INTERVAL (30), HZNCTL_AGE_KEY_FILE (/run/secrets/runner.agekey); extra arguments
# go to `hznctl health serve`. exec: the monitor becomes PID 1 and gets
# SIGTERM (stop) and SIGHUP (reload the inventory) directly.
set -eu
: "${HZNCTL_INVENTORY:=/inventory}"
: "${HZNCTL_LISTEN:=0.0.0.0:9530}"
: "${HZNCTL_INTERVAL:=30}"
: "${HZNCTL_AGE_KEY_FILE:=/run/secrets/runner.agekey}"
export HZNCTL_AGE_KEY_FILE
exec hznctl health serve "$HZNCTL_INVENTORY" --listen "$HZNCTL_LISTEN" \
  --interval "$HZNCTL_INTERVAL" "$@"
