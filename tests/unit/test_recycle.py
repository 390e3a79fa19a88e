"""`hznctl exec`'s recycling, on real child processes: a worker that exits with a recycle
status is replaced in place (supervisord's process, this one, keeps running), no sooner
than min_uptime after the previous start; any other exit, or a stop signal, ends it at once
with the worker's status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hznctl.execspec import Recycle
from hznctl.recycle import run_recycling

HOLD = Recycle(min_uptime=0.3, exit_codes=[0, 12])

# A worker whose n-th run (counted in a file) exits with the n-th of the statuses given.
SCRIPT = ("import pathlib, sys\n"
          "runs = pathlib.Path(sys.argv[1])\n"
          "n = len(runs.read_text()) if runs.exists() else 0\n"
          "runs.write_text('x' * (n + 1))\n"
          "sys.exit(int(sys.argv[2 + n]))\n")


def _run(tmp_path: Path, statuses: list[int], recycle: Recycle = HOLD) -> tuple[int, int, float]:
    runs = tmp_path / "runs"
    runs.unlink(missing_ok=True)
    began = time.monotonic()
    status = run_recycling([sys.executable, "-c", SCRIPT, str(runs), *map(str, statuses)],
                           dict(os.environ), recycle)
    return status, len(runs.read_text()), time.monotonic() - began


def test_a_recycling_worker_is_replaced_until_it_exits_otherwise(tmp_path):
    status, runs, took = _run(tmp_path, [0, 12, 0, 3])
    assert (status, runs) == (3, 4)
    assert took >= 3 * HOLD.min_uptime  # each replacement waited for min_uptime


def test_a_crash_is_passed_on_at_once(tmp_path):
    status, runs, took = _run(tmp_path, [1], Recycle(min_uptime=30, exit_codes=[0]))
    assert (status, runs) == (1, 1) and took < 10


@settings(max_examples=15, deadline=None)
@given(st.lists(st.sampled_from([0, 12]), max_size=3), st.integers(1, 11))
def test_the_exit_is_the_first_status_that_is_no_recycle_status(tmp_path_factory, recycles,
                                                                crash):
    """Whatever came before, supervisord sees exactly the crash, with its own status."""
    tmp = tmp_path_factory.mktemp("r")
    status, runs, _ = _run(tmp, [*recycles, crash], Recycle(min_uptime=0.05,
                                                            exit_codes=[0, 12]))
    assert (status, runs) == (crash, len(recycles) + 1)


WRAPPER = ("import os, sys\n"
           "from hznctl.execspec import Recycle\n"
           "from hznctl.recycle import run_recycling\n"
           "sys.exit(run_recycling([sys.executable, '-c', sys.argv[1], sys.argv[2]],"
           " dict(os.environ), Recycle(min_uptime=float(sys.argv[3]), exit_codes=[0])))\n")


def _wait_for(condition, what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert proc.poll() is None, f"the wrapper exited before {what}"
        assert time.monotonic() < deadline, f"no {what} within 20 s"
        time.sleep(0.02)


@pytest.mark.parametrize("between", [False, True], ids=["during a job", "between workers"])
def test_a_stop_signal_ends_it_without_a_replacement(tmp_path, between):
    """TERM reaches the worker, which exits 0 (a graceful stop), and the wrapper exits with
    it at once: no new worker, no wait for min_uptime (30 s)."""
    ready = tmp_path / "ready"
    worker = ("import signal, sys, time, pathlib\n"
              "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
              "p = pathlib.Path(sys.argv[1]); p.write_text(p.read_text() + 'x' "
              "if p.exists() else 'x')\n"
              f"sys.exit(0) if {between} else time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", WRAPPER, worker, str(ready), "30"])
    _wait_for(ready.exists, "worker start", proc)
    if between:  # the worker recycled at once; the wrapper waits 30 s for the next
        _wait_for(lambda: not _children(proc.pid), "worker exit", proc)
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert time.monotonic() - began < 5
    assert ready.read_text() == "x"  # one worker ran, none replaced it


def test_the_process_supervisord_sees_keeps_its_pid_while_workers_cycle(tmp_path):
    runs = tmp_path / "runs"
    worker = ("import pathlib, sys\n"
              "p = pathlib.Path(sys.argv[1]); p.write_text(p.read_text() + 'x' "
              "if p.exists() else 'x')\n")
    proc = subprocess.Popen([sys.executable, "-c", WRAPPER, worker, str(runs), "0.1"])
    try:
        _wait_for(lambda: runs.exists() and len(runs.read_text()) >= 3, "three workers", proc)
        assert proc.poll() is None  # still the same process
    finally:
        proc.send_signal(signal.SIGTERM)
        # 0 between two workers; a worker it reached dies of TERM, and the wrapper with it
        assert proc.wait(timeout=10) in (0, -signal.SIGTERM)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []
