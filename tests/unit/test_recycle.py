"""`hznctl exec`'s recycle hold, on real child processes: an exit with a recycle status is
held until min_uptime (supervisord then sees a start that succeeded); any other exit, or a
stop signal, passes at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from hznctl.execspec import Recycle
from hznctl.recycle import run_recycling

HOLD = Recycle(min_uptime=1.5, exit_codes=[0, 12])


def _run(code: str) -> tuple[int, float]:
    began = time.monotonic()
    status = run_recycling([sys.executable, "-c", code], dict(os.environ), HOLD)
    return status, time.monotonic() - began


def test_a_recycling_exit_is_held_until_min_uptime():
    status, took = _run("raise SystemExit(12)")
    assert status == 12 and took >= 1.5


def test_a_crash_is_passed_on_at_once():
    status, took = _run("raise SystemExit(1)")
    assert status == 1 and took < 1.5


def test_a_stop_signal_reaches_the_worker_and_is_not_held(tmp_path):
    """The wrapper in a real process: TERM is forwarded to the worker, which exits 0 (a
    graceful stop), and the wrapper exits at once with it."""
    ready = tmp_path / "ready"
    worker = ("import signal, sys, time, pathlib\n"
              "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
              f"pathlib.Path({str(ready)!r}).write_text('x')\n"
              "time.sleep(60)\n")
    wrapper = ("import os, sys\n"
               "from hznctl.execspec import Recycle\n"
               "from hznctl.recycle import run_recycling\n"
               "sys.exit(run_recycling([sys.executable, '-c', sys.argv[1]], dict(os.environ),"
               " Recycle(min_uptime=30, exit_codes=[0])))\n")
    proc = subprocess.Popen([sys.executable, "-c", wrapper, worker])
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert time.monotonic() - began < 5  # not held for min_uptime (30 s)
