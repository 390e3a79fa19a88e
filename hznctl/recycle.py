"""Run a worker that recycles itself, replacing it in place: supervisord sees one process.

A worker with ``max_jobs`` exits by design, and with jobs waiting it may do so within a
second. Left to supervisord, an exit within ``startsecs`` of the start counts as a failed
start whatever its status (``Subprocess.finish``: "Exited too quickly"; FATAL after
``startretries``), and an exit after it looks just like a crash: supervisord restarts both
and keeps no trace of which it was (``Subprocess.spawn`` resets ``exitstatus``), so a
deploy watching the group could not tell a worker that crashes a few seconds into each run
from one that recycles.

Here the worker runs as a child. When it exits with one of the recycle statuses a new one
is started in its place, no sooner than ``min_uptime`` seconds after the previous start (a
worker that recycles at once cannot spin), and this process — supervisord's — keeps
running under the same PID. Any other exit (a crash, at start or later) ends this process
at once with the same status, so supervisord sees what it would see of the worker itself:
a failed start within ``startsecs`` (FATAL in the end), a restart under another PID after
it; a deploy's settle window fails on either.

Signals supervisord sends are passed to the current worker. A stop signal (TERM, INT,
QUIT) also means no replacement: this process exits with the worker's status once it has
stopped, or at once between two workers. The workers stay in this process's group, so
``killasgroup`` still reaches them.
"""

from __future__ import annotations

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
    """A stop signal between two workers: exit now."""


class _Worker:
    """The worker running now, and whether a stop was asked for (and by which signal)."""

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.stop_signal: int | None = None
        self.between = False  # no worker runs: waiting to start the next one

    def forward(self, signum: int, frame: FrameType | None) -> None:
        if signum in STOPPING:
            self.stop_signal = signum
            if self.between:
                raise _Stop
        child = self.child
        if child is not None and child.returncode is None:
            child.send_signal(signum)


def run_recycling(argv: Sequence[str], env: Mapping[str, str], recycle: Recycle) -> int:
    """Run ``argv`` as a child, replaced whenever it exits with a recycle status; return the
    exit status to exit with (OSError if it cannot start)."""
    worker = _Worker()
    for sig in FORWARDED:
        signal.signal(sig, worker.forward)
    while True:
        started = time.monotonic()
        worker.child = subprocess.Popen(list(argv), env=dict(env))
        if worker.stop_signal is not None:  # asked to stop while it was being started
            worker.child.send_signal(worker.stop_signal)
        status = worker.child.wait()
        if status < 0:  # killed by a signal: die of it too
            for sig in FORWARDED:
                signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), -status)
            return 128 - status
        if status not in recycle.exit_codes or worker.stop_signal is not None:
            return status
        if not _pause(worker, recycle.min_uptime - (time.monotonic() - started)):
            return status


def _pause(worker: _Worker, seconds: float) -> bool:
    """Wait ``seconds`` before the next worker; False if a stop signal came meanwhile."""
    try:
        worker.between = True
        if worker.stop_signal is not None:
            return False
        if seconds > 0:
            time.sleep(seconds)
        return True
    except _Stop:
        return False
    finally:
        worker.between = False
