"""Deploy on a host with 200 worker groups where 1 changed, against a real supervisord.

Figure: `hznctl deploy BUNDLE` as an operator runs it (one process, default settle window).
Floor: the same change applied by hand, `supervisorctl reread` then `supervisorctl update`
(two processes, as an operator types them) against the same supervisord, on plain program
files in its include folder. Both change exactly one group per round (each round flips it
between two versions) and leave the 199 others running with their PIDs.

Measured in CPU time of the processes (user + system, their rusage), figure and floor
taking turns round by round: hznctl deploy does more than the floor (verified install,
lock, state files opened without following links, host identity, the settle window, the
record), and its wall time is mostly waiting — for the stopped group's processes to exit,
for the new ones to be RUNNING, and the settle window (3 s by default) — which no CPU
is spent on. Wall times are printed too. Goal: ≤ 1× the floor's CPU time.

    HZNCTL_BENCH_SCALE=1 .venv/bin/pytest benchmarks/test_deploy_bench.py -s -p no:cacheprovider

Each runs with the host's folders on disk and in memory (/dev/shm).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.measure import Ratio, process_cpu
from tests.integration.deploy_fixtures import (
    HOST,
    Group,
    Host,
    hznctl_bin,
    make_bundle,
    program_text,
    run_deploy,
)
from tests.support import Supervisord, start_supervisord, venv_bin, wait_for

FULL = 200
CHANGED = "bench-000"
BASELINE_CHANGED = "hand-000"
GOAL = 1.0


def _groups(count: int, flip: bool, prefix: str = "bench") -> dict[str, Group]:
    groups = {f"{prefix}-{i:03d}": Group(command="sleep 3600", stopwaitsecs=5)
              for i in range(count)}
    if flip:
        groups[f"{prefix}-000"] = Group(command="sleep 3601", stopwaitsecs=5)
    return groups


def _count(scale: float) -> int:
    return max(3, round(FULL * scale))


def _rounds(scale: float) -> int:
    """Rounds of each, figure and floor (every deploy waits out its settle window)."""
    return 10 if scale >= 0.5 else 2


def _pids(sup: Supervisord, skip: set[str]) -> dict[str, int]:
    return {p["name"]: p["pid"] for p in sup.processes() if p["group"] not in skip}


def _all_running(sup: Supervisord, count: int) -> bool:
    procs = sup.processes()
    return len(procs) == count and all(p["statename"] == "RUNNING" for p in procs)


@pytest.fixture(params=["disk", "memory"])
def where(request, tmp_path):
    """The host's folders on disk (the test's temporary folder) or in memory (/dev/shm):
    creating and deleting files costs a journaling file system far more CPU."""
    if request.param == "disk":
        yield tmp_path
        return
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm here")
    with tempfile.TemporaryDirectory(prefix="hznctl-bench-", dir="/dev/shm") as tmp:
        yield Path(tmp)


@pytest.fixture
def sup(where):
    server = start_supervisord(where)
    yield server
    server.stop()


def _timed(func: Callable[[], float]) -> tuple[float, float]:
    """(CPU seconds the function reports, wall seconds it took)."""
    started = time.perf_counter()
    spent = func()
    return spent, time.perf_counter() - started


def test_deploy_against_supervisorctl_reread_update(benchmark, sup, where, scale):
    count = _count(scale)
    host = Host(sup, where / "host")
    # hznctl's groups (links into its state folder) and the hand-kept ones (plain files)
    # share the supervisord: each side's re-read reads all of them, as on one host.
    bundles = [make_bundle(where / f"v{n}", host, _groups(count, bool(n % 2)),
                           revision=f"r{n}") for n in range(_rounds(scale) + 1)]
    first = run_deploy(bundles[0], "--timeout", "120", "--settle", "0")
    assert first.returncode == 0, first.stderr
    by_hand = [_groups(count, bool(flip), "hand") for flip in (0, 1)]
    for name, group in by_hand[0].items():
        (sup.include_dir / f"{name}.conf").write_text(program_text(name, group, host)[0])
    ctl = [venv_bin("supervisorctl"), "-c", str(sup.dir / "supervisord.conf")]
    process_cpu([*ctl, "update"])
    wait_for(lambda: _all_running(sup, 2 * count), timeout=120, what="all groups RUNNING")
    before = _pids(sup, {CHANGED, BASELINE_CHANGED})
    rpc = sup.rpc().supervisor
    changed_file: Path = sup.include_dir / f"{BASELINE_CHANGED}.conf"
    turns = iter(range(1, 1000))
    deploys = iter(range(1, len(bundles)))

    def deploy() -> float:
        bundle = bundles[next(deploys)]
        return process_cpu([hznctl_bin(), "deploy", str(bundle), "--host", HOST])

    def reread_update() -> float:
        version = by_hand[next(turns) % 2]
        changed_file.write_text(program_text(BASELINE_CHANGED, version[BASELINE_CHANGED],
                                             host)[0])
        spent = process_cpu([*ctl, "reread"]) + process_cpu([*ctl, "update"])
        # The same end point as hznctl deploy's: the changed group's process RUNNING again
        # (waited for here, outside the measured processes).
        wait_for(lambda: rpc.getProcessInfo(f"{BASELINE_CHANGED}:{BASELINE_CHANGED}_00")
                 ["statename"] == "RUNNING", timeout=60, what="changed group RUNNING")
        return spent

    def measure() -> tuple[Ratio, float, float]:
        figures, floors, walls, floor_walls = [], [], [], []
        for _ in range(_rounds(scale)):
            spent, wall = _timed(deploy)
            figures.append(spent)
            walls.append(wall)
            spent, wall = _timed(reread_update)
            floors.append(spent)
            floor_walls.append(wall)
        return (Ratio(f"hznctl deploy, 1 of {count} groups changed", min(figures),
                      min(floors)), min(walls), min(floor_walls))

    measured, wall, floor_wall = benchmark.pedantic(measure, rounds=1, iterations=1)
    assert _pids(sup, {CHANGED, BASELINE_CHANGED}) == before, "an unchanged group restarted"
    records = host.records()[1:]
    assert all(r["result"] == "ok" and r["actions"]["added"] == [CHANGED] for r in records)
    benchmark.extra_info.update(groups=count, changed=1, cpu_s=round(measured.figure, 4),
                                floor_cpu_s=round(measured.floor, 4),
                                ratio=round(measured.ratio, 3), wall_s=round(wall, 3),
                                floor_wall_s=round(floor_wall, 3), goal=GOAL,
                                load_average=os.getloadavg())
    print(f"\n{measured.line()} (goal ≤ {GOAL:.1f}; files in {where}) against "
          "supervisorctl reread + update; "
          f"wall {wall:.2f} s (includes waiting: the old process's exit, the new one's "
          f"RUNNING, the {records[-1]['settle_window']:g} s settle window) against "
          f"{floor_wall:.2f} s (the two supervisorctl processes and the wait for RUNNING)")
    if scale >= 0.5:  # a tiny host measures fixed costs only
        assert measured.ratio <= GOAL
