"""`plan --base` on a one-application change against one validate of the same inventory.

Floor: `validate` of the working tree, which `plan --base` must do anyway. Figure: the
plan from HEAD to a working tree where one application's worker group has one more queue
(validating both revisions, compiling only the hosts whose inputs differ). Both in CPU
time of this process (and of git, which it waits for), in the same run, taking turns
round by round; compiled on this process (``jobs=1``) so that all of it is counted.
Goal ≤ 1.5× at full size (2,000 applications, 200 hosts, 10,000 worker groups).

    HZNCTL_BENCH_SCALE=1 .venv/bin/pytest benchmarks/test_plan_bench.py -s -p no:cacheprovider

The incremental plan is checked against the full one (every host of both revisions
compiled) once, at the end.
"""

from __future__ import annotations

import resource
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from benchmarks.generate import generate_inventory, sizes
from benchmarks.measure import alternate
from hznctl.pipeline import plan_against_revision, plan_fully
from hznctl.plan.render import render_json
from hznctl.validate import validate_inventory

GOAL = 1.5


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@e", *args], cwd=repo,
                   check=True, capture_output=True)


@pytest.fixture(scope="module")
def changed_fleet(tmp_path_factory: pytest.TempPathFactory, scale: float) -> Path:
    repo = tmp_path_factory.mktemp("plan-bench")
    root = generate_inventory(repo / "inventory", **sizes(scale))
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    path = sorted((root / "applications").glob("*.yaml"))[0]
    app = yaml.safe_load(path.read_text())
    app["workers"][0]["queues"] = [*app["workers"][0]["queues"], "one-more"]
    path.write_text(yaml.safe_dump(app, sort_keys=False))
    return root


def _cpu(func: Callable[[], object]) -> float:
    """CPU seconds of this process and of the processes it waited for (git) in ``func``."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.process_time()
    func()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (time.process_time() - started + after.ru_utime - children.ru_utime
            + after.ru_stime - children.ru_stime)


def test_plan_base_against_one_validate(benchmark, changed_fleet: Path, scale: float) -> None:
    rounds = 3 if scale >= 1 else 5

    def plan() -> float:
        return _cpu(lambda: plan_against_revision(changed_fleet, "HEAD", jobs=1))

    def validate() -> float:
        return _cpu(lambda: validate_inventory(changed_fleet))

    measured = benchmark.pedantic(alternate, args=("plan --base, one application changed",
                                                   plan, validate, rounds),
                                  rounds=1, iterations=1)
    result = plan_against_revision(changed_fleet, "HEAD", jobs=1)
    changed = [p.host for p in result.plans if p.has_changes]
    benchmark.extra_info.update(cpu_s=round(measured.figure, 3),
                                floor_cpu_s=round(measured.floor, 3),
                                ratio=round(measured.ratio, 3), goal=GOAL,
                                hosts=len(result.plans), hosts_changed=len(changed))
    print(f"\n{measured.line()} (goal ≤ {GOAL}) against one validate; scale {scale}, "
          f"{len(result.plans)} hosts, {len(changed)} changed")
    assert changed and result.ok
    assert render_json(result.plans) == render_json(plan_fully(changed_fleet, "HEAD",
                                                               jobs=1).plans)
    if scale >= 1:
        assert measured.ratio <= GOAL
