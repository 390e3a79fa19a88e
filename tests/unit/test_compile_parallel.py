"""Bundles built on several cores are the bundles one process builds, errors included."""

from __future__ import annotations

import os

import pytest

from hznctl.compile import parallel
from hznctl.compile.compiler import CompileError
from hznctl.inventory import load_inventory
from hznctl.pipeline import build_bundles
from hznctl.placement import groups_by_host
from tests.compile_support import recording_forks
from tests.support import EXAMPLE_INVENTORY

pytestmark = pytest.mark.skipif(not parallel.can_fork(), reason="forked workers: Linux only")


@pytest.fixture(scope="module")
def inventory():
    loaded = load_inventory(EXAMPLE_INVENTORY).inventory
    assert loaded is not None
    return loaded


@pytest.fixture
def forks(monkeypatch):
    """Every worker forked, with nothing too small to fork for."""
    return recording_forks(monkeypatch)


def _hosts(inventory):
    """The supervisord hosts (a cluster's tree is not built by the forked builders)."""
    placed = {h: g for h, g in groups_by_host(inventory).items()
              if inventory.hosts[h].target.value == "supervisord"}
    return list(placed), [len(placed[h]) for h in placed]


def _build_in_parallel(build, hosts, weights, jobs):
    """``parallel.stream_in_parallel`` of a ``build`` that makes a run's bundles at once,
    all of them put together."""
    return dict(parallel.stream_in_parallel(lambda run: iter(build(run).items()), hosts,
                                            weights, jobs))


def _reaped(pids: list[int]) -> bool:
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        return False
    return True


@pytest.mark.parametrize(("weights", "parts", "expected"), [
    ([1, 1, 1, 1], 2, [["a", "b"], ["c", "d"]]),
    ([5, 1, 1, 1], 2, [["a"], ["b", "c", "d"]]),
    ([1, 1, 1, 5], 2, [["a", "b", "c"], ["d"]]),
    ([1, 1, 1, 1], 3, [["a"], ["b", "c"], ["d"]]),
    ([3, 3, 3, 3], 3, [["a"], ["b", "c"], ["d"]]),
    ([2, 2, 1, 1], 2, [["a", "b"], ["c", "d"]]),
    ([1, 1, 1, 1], 8, [["a"], ["b"], ["c"], ["d"]]),
    ([0, 0, 0, 1], 2, [["a", "b", "c", "d"]]),
])
def test_hosts_are_cut_into_consecutive_runs_of_about_equal_weight(weights, parts, expected):
    assert parallel.runs(["a", "b", "c", "d"], weights, parts) == expected


@pytest.mark.parametrize("jobs", [2, 3, 8])
def test_workers_build_the_same_bundles_as_one_process(inventory, forks, jobs):
    hosts, weights = _hosts(inventory)
    alone = build_bundles(inventory)
    together = _build_in_parallel(lambda hs: build_bundles(inventory, hosts=hs),
                                          hosts, weights, jobs)
    assert forks, "no worker was forked"
    assert list(together) == list(alone)
    for host, bundle in alone.items():
        assert together[host].all_files() == bundle.all_files()
    assert _reaped(forks)


def _failing(inventory, bad: set[str]):
    def build(hosts):
        for host in hosts:
            if host in bad:
                raise CompileError(f"host {host}: cannot build it")
        return build_bundles(inventory, hosts=hosts)
    return build


def test_a_workers_error_is_raised_here_as_it_is(inventory, forks):
    hosts, weights = _hosts(inventory)
    with pytest.raises(CompileError, match=f"host {hosts[-1]}: cannot build it"):
        _build_in_parallel(_failing(inventory, {hosts[-1]}), hosts, weights, 2)
    assert forks and _reaped(forks)


def test_the_first_failing_host_is_the_one_reported(inventory, forks):
    """As in one process, which builds hosts in order and stops at the first failure."""
    hosts, weights = _hosts(inventory)
    with pytest.raises(CompileError, match=f"host {hosts[0]}: "):
        _build_in_parallel(_failing(inventory, {hosts[0], hosts[-1]}), hosts,
                                   weights, len(hosts))
    with pytest.raises(CompileError, match=f"host {hosts[1]}: "):
        _build_in_parallel(_failing(inventory, {hosts[1], hosts[-1]}), hosts,
                                   weights, len(hosts))
    assert _reaped(forks)


def test_a_worker_that_dies_is_reported_not_waited_for_forever(inventory, forks):
    hosts, weights = _hosts(inventory)

    def build(part):
        if hosts[-1] in part:
            os._exit(3)  # a worker killed mid-build sends nothing
        return build_bundles(inventory, hosts=part)

    with pytest.raises(parallel.WorkerDied, match="--jobs 1"):
        _build_in_parallel(build, hosts, weights, 2)
    assert _reaped(forks)


def test_small_inventories_are_built_here(inventory, monkeypatch):
    hosts, weights = _hosts(inventory)
    monkeypatch.setattr(parallel.os, "fork", lambda: pytest.fail("forked for a few programs"))
    bundles = _build_in_parallel(lambda hs: build_bundles(inventory, hosts=hs),
                                         hosts, weights, 4)
    assert list(bundles) == hosts


def test_compile_builds_on_the_jobs_it_is_given(forks, tmp_path):
    from click.testing import CliRunner

    from hznctl.cli.main import cli
    from hznctl.pipeline import compile_inventory
    from tests.compile_support import tree, without_secrets
    from tests.support import DEMO_KEYS

    alone = compile_inventory(EXAMPLE_INVENTORY, jobs=1)
    assert not forks
    together = compile_inventory(EXAMPLE_INVENTORY, jobs=2)
    assert len(forks) == 1
    assert {h: b.all_files() for h, b in together.bundles.items()} == \
        {h: b.all_files() for h, b in alone.bundles.items()}
    runner = CliRunner(env={"HZNCTL_AGE_KEY_FILE": str(DEMO_KEYS / "cluster-eu.agekey")})
    for jobs in ("1", "3"):
        result = runner.invoke(cli, ["compile", str(EXAMPLE_INVENTORY), "--out",
                                     str(tmp_path / jobs), "--jobs", jobs])
        assert result.exit_code == 0, result.output
    assert len(forks) == 3
    # sops encrypts the cluster's Secrets anew in each fresh folder; all else is the same.
    assert without_secrets(tree(tmp_path / "1")) == without_secrets(tree(tmp_path / "3"))
    assert _reaped(forks)
