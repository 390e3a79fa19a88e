"""Run a worker that recycles itself so that supervisord never counts its exit as a failed
start.

supervisord counts an exit within ``startsecs`` of the start as a failed start, whatever
the exit status (``Subprocess.finish``: "Exited too quickly"), and after ``startretries``
of them gives up on the program (FATAL). A worker with ``max_jobs`` exits by design, and
with jobs waiting it may do so within a second. Here the worker runs as a child: an exit
with one of the recycle statuses is held until ``min_uptime`` seconds after the start (so
supervisord saw a start that succeeded, and restarts it every time), while any other exit
(a crash at start) is passed on at once, so such a program still ends FATAL.

Signals supervisord sends are passed to the worker; the worker stays in this process's
group, so ``killasgroup`` still reaches it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from types import FrameType

from hznctl.execspec import Recycle

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1,
             signal.SIGUSR2)
STOPPING = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


class _Stop(Exception):
    """A stop signal while an exit is held: exit now."""


def run_recycling(argv: Sequence[str], env: Mapping[str, str], recycle: Recycle) -> int:
    """Run ``argv`` as a child; return the exit status to exit with (OSError if it cannot
    start)."""
    started = time.monotonic()
    child = subprocess.Popen(list(argv), env=dict(env))
    state = {"stopping": False, "holding": False}

    def forward(signum: int, frame: FrameType | None) -> None:
        if signum in STOPPING:
            state["stopping"] = True
            if state["holding"]:
                raise _Stop
        if child.returncode is None:
            child.send_signal(signum)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    status = child.wait()
    if status < 0:  # killed by a signal: die of it too
        for sig in FORWARDED:
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
        return 128 - status
    remaining = recycle.min_uptime - (time.monotonic() - started)
    if status in recycle.exit_codes and remaining > 0 and not state["stopping"]:
        state["holding"] = True
        with contextlib.suppress(_Stop):
            time.sleep(remaining)
    return status
