"""The exact bytes of deploy, status, restart and health, per format, with their exit codes,
against a real supervisord and redis-server: the golden files of
`tests/acceptance/test_cli_output_bytes.py` (`tests/acceptance/cli_output/live-*.out`).

What differs from run to run by nature is written as a placeholder before comparing:
the temporary folder, durations and latencies, process ids, ports, times, hashes.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.acceptance.test_cli_output_bytes import compare, transcript
from tests.integration.deploy_fixtures import HOST, Group, Host, make_bundle, wait_running
from tests.integration.health_support import App, Conn, write_inventory
from tests.support import free_port, make_age_key, venv_bin

pytestmark = pytest.mark.integration
GROUPS = {"a-one": Group(numprocs=2), "b-two": Group(stopwaitsecs=12)}
PASSWORD = "pw-bytes-5f5f"
_VARYING = [
    (rb"127\.0\.0\.1:\d+", b"127.0.0.1:<port>"),
    (rb'"machine": "[^"]*"', b'"machine": "<machine>"'),
    (rb"(?<![\d.])\d+\.\d+(?![\d.])", b"<n>"),  # seconds, latencies
    (rb"failed to start: [A-Z]+ ", b"failed to start: <state> "),  # depends on when asked
    (rb"\([A-Z][a-z]{2} \d\d \d\d:\d\d [AP]M;", b"(<date>;"),
    (rb'"(pid|port|uptime|started|now|at|time|timestamp|used_memory|connected_clients'
     rb'|uptime_in_seconds|[a-z_]*seconds[a-z_]*|[a-z_]*_ms)": -?\d+', rb'"\1": <n>'),
    (rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?", b"<time>"),
    (rb"[0-9a-f]{12,64}", b"<hex>"),
]


def _normal(text: bytes) -> bytes:
    for pattern, replacement in _VARYING:
        text = re.sub(pattern, replacement, text)
    return text


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([venv_bin("hznctl"), *args], cwd=root, capture_output=True,
                          timeout=120, stdin=subprocess.DEVNULL,
                          env={"PATH": str(Path(venv_bin("hznctl")).parent) + ":/usr/bin:/bin",
                               "COLUMNS": "100", "HOME": str(root)})


def _check(name: str, root: Path, *args: str) -> int:
    done = _run(root, *args)
    compare(f"live-{name}", _normal(transcript(args, done, root)))
    return done.returncode


def test_deploy_status_and_restart_bytes(supervisord, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = Host(supervisord, tmp_path / "host")
    worker = tmp_path / "worker.sh"  # removed later: its group then fails to restart
    worker.write_text("#!/bin/sh\nexec sleep 3600\n")
    worker.chmod(0o755)
    groups = {**GROUPS, "c-three": Group(command=str(worker))}
    bundle = str(make_bundle(tmp_path / "out", host, groups))
    state = ("--state-dir", str(host.state_dir))
    _check("deploy-dry-run-text", tmp_path, "deploy", bundle, "--host", HOST, "--dry-run")
    assert _check("deploy-json", tmp_path, "deploy", bundle, "--host", HOST, "--settle", "0",
                  "--format", "json") == 0
    wait_running(host, groups)
    _check("deploy-again-text", tmp_path, "deploy", bundle, "--settle", "0")
    _check("deploy-dry-run-json", tmp_path, "deploy", bundle, "--dry-run", "--format", "json")
    for fmt in ("text", "json"):
        assert _check(f"status-{fmt}", tmp_path, "status", *state, "--format", fmt) == 0
        assert _check(f"restart-{fmt}", tmp_path, "restart", "a", *state, "--settle", "0",
                      "--format", fmt) == 0
        wait_running(host, groups)
    _check("restart-unknown", tmp_path, "restart", "zzz", *state)
    worker.unlink()
    for fmt in ("text", "json"):
        assert _check(f"restart-fails-{fmt}", tmp_path, "restart", "c", *state, "--settle",
                      "0", "--timeout", "3", "--format", fmt) == 1
    worker.write_text("#!/bin/sh\nexec sleep 3600\n")
    worker.chmod(0o755)
    host.sup.rpc().supervisor.startProcessGroup("c-three")
    wait_running(host, groups)
    host.sup.rpc().supervisor.stopProcess("a-one:a-one_01")
    for fmt in ("text", "json"):
        assert _check(f"status-drift-{fmt}", tmp_path, "status", *state, "--format", fmt) == 1
    _check("status-no-state", tmp_path, "status", "--state-dir", str(tmp_path / "nowhere"))
    broken = make_bundle(tmp_path / "broken", host,
                         {**groups, "d-four": Group(command="/nonexistent/worker")})
    for fmt in ("text", "json"):
        assert _check(f"deploy-fails-{fmt}", tmp_path, "deploy", str(broken), "--settle",
                      "0", "--timeout", "3", "--format", fmt) == 1


def test_health_bytes(tmp_path: Path, redis_factory) -> None:  # type: ignore[no-untyped-def]
    runner = make_age_key(tmp_path / "runner.agekey")
    server = redis_factory(password=PASSWORD)
    server.client().rpush("rq:queue:exports", *range(1200))
    inventory = write_inventory(tmp_path / "inventory", runner,
                                [Conn("redis-a", server.port, PASSWORD),
                                 Conn("redis-gone", free_port())],
                                [App("reports", "rq", "redis-a", ["exports"])],
                                check_timeout=1)
    base = ("health", str(inventory), "--identity", str(runner.path))
    for fmt in ("text", "json"):
        assert _check(f"health-{fmt}", tmp_path, *base, "--out", f"out-{fmt}",
                      "--format", fmt) == 1
    _check("health-never", tmp_path, *base, "--fail-on", "never")
    _check("health-unknown", tmp_path, *base, "--connection", "redis-zzz")
