"""Deploy on a host with 200 worker groups where 1 changed, against a real supervisord.

Target: `hznctl deploy` ≤ 1 s (startsecs=0, so no waiting for it) with zero restarts of the
199 unchanged groups. Baseline: the same change applied by hand with `supervisorctl reread`
then `supervisorctl update` on a supervisord whose include folder holds plain files.

Each round flips one group between two bundles, so every round applies exactly one change.
Full scale: `HZNCTL_BENCH_SCALE=1 .venv/bin/pytest benchmarks/test_deploy_bench.py
--benchmark-only -p no:cacheprovider`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.deploy_fixtures import Group, Host, make_bundle, program_text, run_deploy
from tests.support import Supervisord, start_supervisord, venv_bin, wait_for

FULL = 200
CHANGED = "bench-000"


def _groups(count: int, flip: bool) -> dict[str, Group]:
    groups = {f"bench-{i:03d}": Group(command="sleep 3600", stopwaitsecs=5)
              for i in range(count)}
    if flip:
        groups[CHANGED] = Group(command="sleep 3601", stopwaitsecs=5)
    return groups


def _count(scale: float) -> int:
    return max(3, round(FULL * scale))


def _unchanged_pids(sup: Supervisord) -> dict[str, int]:
    return {p["name"]: p["pid"] for p in sup.processes() if p["group"] != CHANGED}


def _all_running(sup: Supervisord, count: int) -> bool:
    procs = sup.processes()
    return len(procs) == count and all(p["statename"] == "RUNNING" for p in procs)


@pytest.fixture
def sup(tmp_path):
    server = start_supervisord(tmp_path)
    yield server
    server.stop()




def _rounds(scale: float) -> int:
    return 5 if scale >= 0.5 else 2


def test_deploy_one_changed_group_of_200(benchmark, sup, tmp_path, scale):
    """The deploy itself (in-process: lock, plan, stage a new bundle, switch, reload, stop
    and re-add the changed group, wait for RUNNING); `hznctl deploy` as a process is timed
    in the next test."""
    from hznctl.deploy.run import DeployRequest, deploy
    from hznctl.deploy.supervisor import Address

    count = _count(scale)
    host = Host(sup, tmp_path / "host")
    # A new bundle every round (another revision), so every round stages one.
    bundles = [make_bundle(tmp_path / f"v{n}", host, _groups(count, bool(n % 2)),
                           revision=f"r{n}") for n in range(_rounds(scale) + 1)]
    first = run_deploy(bundles[0], "--timeout", "120", "--settle", "0")
    assert first.returncode == 0, first.stderr
    wait_for(lambda: _all_running(sup, count), timeout=120, what="all groups RUNNING")
    before = _unchanged_pids(sup)
    turn = iter(bundles[1:])
    records = []

    def deploy_next() -> None:
        request = DeployRequest(bundle=next(turn), address=Address(sup.url),
                                state_dir=host.state_dir, include_dir=host.include_dir,
                                settle=0)  # the deploy's own time, not a fixed watch
        record = deploy(request)
        assert record.result == "ok" and record.actions["added"] == [CHANGED], record
        records.append(record)

    benchmark.pedantic(deploy_next, rounds=_rounds(scale), iterations=1)
    assert _unchanged_pids(sup) == before, "an unchanged group was restarted"
    steps = {k: round(sum(r.durations[k] for r in records) / len(records), 3)
             for k in records[0].durations}
    benchmark.extra_info.update(groups=count, changed=1, restarts_of_unchanged=0,
                                mean_step_seconds=steps, load_average=os.getloadavg())
    # Best of the rounds: on a shared machine the others measure the neighbours too.
    assert benchmark.stats.stats.min <= 1.0


def test_deploy_command_one_changed_group_of_200(benchmark, sup, tmp_path, scale):
    """The same, as an operator runs it: `hznctl deploy BUNDLE` (a process: interpreter
    start, imports, manifest, record), to compare with supervisorctl's two processes."""
    count = _count(scale)
    host = Host(sup, tmp_path / "host")
    bundles = [make_bundle(tmp_path / f"v{n}", host, _groups(count, bool(n % 2)),
                           revision=f"r{n}") for n in range(_rounds(scale) + 1)]
    first = run_deploy(bundles[0], "--timeout", "120", "--settle", "0")
    assert first.returncode == 0, first.stderr
    wait_for(lambda: _all_running(sup, count), timeout=120, what="all groups RUNNING")
    before = _unchanged_pids(sup)
    turn = iter(bundles[1:])

    def deploy_next() -> None:
        result = run_deploy(next(turn), "--settle", "0")
        assert result.returncode == 0, result.stderr

    benchmark.pedantic(deploy_next, rounds=_rounds(scale), iterations=1)
    assert _unchanged_pids(sup) == before, "an unchanged group was restarted"
    benchmark.extra_info.update(groups=count, changed=1, restarts_of_unchanged=0,
                                load_average=os.getloadavg())


def test_baseline_supervisorctl_reread_update(benchmark, sup, tmp_path, scale):
    count = _count(scale)
    host = Host(sup, tmp_path / "host")
    host.log_dir.mkdir(parents=True)
    versions = [_groups(count, bool(flip)) for flip in (0, 1)]
    for name, group in versions[0].items():
        (sup.include_dir / f"{name}.conf").write_text(program_text(name, group, host)[0])
    ctl = [venv_bin("supervisorctl"), "-c", str(sup.dir / "supervisord.conf")]
    subprocess.run([*ctl, "update"], check=True, capture_output=True)
    wait_for(lambda: _all_running(sup, count), timeout=120, what="all groups RUNNING")
    before = _unchanged_pids(sup)
    changed_file: Path = sup.include_dir / f"{CHANGED}.conf"
    rpc = sup.rpc().supervisor
    turn = iter(range(1, 1000))

    def reread_update() -> None:
        version = versions[next(turn) % 2]
        changed_file.write_text(program_text(CHANGED, version[CHANGED], host)[0])
        subprocess.run([*ctl, "reread"], check=True, capture_output=True)
        subprocess.run([*ctl, "update"], check=True, capture_output=True)
        # Same end point as hznctl deploy: the changed group's process RUNNING again.
        wait_for(lambda: rpc.getProcessInfo(f"{CHANGED}:{CHANGED}_00")["statename"]
                 == "RUNNING", timeout=60, what="changed group RUNNING")

    benchmark.pedantic(reread_update, rounds=_rounds(scale), iterations=1)
    assert _unchanged_pids(sup) == before
    benchmark.extra_info.update(groups=count, changed=1, load_average=os.getloadavg())
