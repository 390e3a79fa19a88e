"""Hostile conditions, through `hznctl compile` and real workers (RQ + a command worker,
secrets through sops/age and `hznctl exec`): a worker that crashes at start, supervisord
down, a foreign unparsable file, foreign programs, a deploy killed mid-way, two deploys at
once."""

from __future__ import annotations

import json
import signal
import sys

import pytest

from tests.integration.deploy_fixtures import (
    compile_and_deploy,
    compiled_site,
    deploy_process,
    run_deploy,
    snapshot,
)
from tests.support import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def site(tmp_path):
    yield from compiled_site(tmp_path)


def _compile(cli, site) -> None:
    result = cli("compile", str(site.inventory), "--out", str(site.out))
    assert result.exit_code == 0, result.output


def _ready(cli, site) -> dict[str, int]:
    compile_and_deploy(cli, site)
    wait_for(site.running, timeout=30, what="workers RUNNING")
    return site.pids()


def _break_pinger(site) -> None:
    # startsecs covers `hznctl exec` (decrypt, then exec) even on a loaded machine: a crash
    # within it is a failed start for supervisord, hence for deploy.
    site.apps["pinger"]["command"] = f"{sys.executable} -c 'raise SystemExit(3)' {{queues}}"
    site.apps["pinger"]["workers"][0]["startsecs"] = 30
    site.write_app("pinger")


def test_a_worker_crashing_at_start_rolls_back_to_the_previous_bundle(cli, site):
    before = _ready(cli, site)
    current = (site.state / "current").resolve()
    _break_pinger(site)
    site.apps["jobs"]["workers"].append({"name": "extra", "queues": ["extra"],
                                          "hosts": ["test-host"]})
    site.write_app("jobs")
    _compile(cli, site)
    result = cli("deploy", str(site.bundle), "--host", "test-host", "--format", "json")
    assert result.exit_code == 1, result.output
    record = json.loads(result.output.split("\nhznctl: error:")[0])
    assert record["result"] == "rolled-back"
    assert "pinger-main_00 failed to start" in record["error"]
    assert (site.state / "current").resolve() == current
    wait_for(site.running, timeout=30, what="old workers RUNNING again")
    after = site.pids()
    assert set(after) == set(before)  # jobs-extra was added, then removed again
    for name in before:
        if not name.startswith("pinger-"):
            assert after[name] == before[name], name
    b = site.redis["redis-b"].client()
    b.rpush("pings", "after-rollback")
    wait_for(lambda: b.lrange("pongs", 0, -1) == [b"after-rollback"], timeout=20,
             what="the old pinger works again")
    assert cli("status", "--state-dir", str(site.state)).exit_code == 0


def test_supervisord_down_is_a_clear_error_and_nothing_changes(cli, site):
    _compile(cli, site)
    site.sup.stop()
    result = cli("deploy", str(site.bundle), "--host", "test-host")
    assert result.exit_code == 1
    assert f"cannot reach supervisord at {site.sup.url}" in result.output
    assert "is it running" in result.output and "Traceback" not in result.output
    assert not site.state.exists()
    assert snapshot(site.sup.include_dir) == {}


def test_a_foreign_unparsable_file_is_named_and_nothing_changes(cli, site):
    before = _ready(cli, site)
    (site.sup.include_dir / "legacy.conf").write_text("[program:legacy\n")
    state, links = snapshot(site.state), snapshot(site.sup.include_dir)
    site.apps["jobs"]["workers"][0]["queues"] = ["default", "more"]
    site.write_app("jobs")
    _compile(cli, site)
    result = cli("deploy", str(site.bundle), "--host", "test-host")
    assert result.exit_code == 1
    assert "legacy.conf" in result.output and "Nothing was changed" in result.output
    assert snapshot(site.state) == state
    assert snapshot(site.sup.include_dir) == links
    assert site.pids() == before


def test_programs_not_managed_by_hznctl_are_never_touched(cli, site):
    (site.sup.include_dir / "cron.conf").write_text(
        "[program:cron]\ncommand=sleep 3600\nstartsecs=0\n")
    rpc = site.sup.rpc().supervisor
    rpc.reloadConfig()
    rpc.addProcessGroup("cron")
    wait_for(lambda: site.pids().get("cron:cron"), timeout=10, what="foreign program")
    cron = site.pids()["cron:cron"]
    _ready(cli, site)
    site.apps["jobs"]["workers"].pop(1)  # removes jobs-slow
    site.write_app("jobs")
    record = compile_and_deploy(cli, site)
    assert record["plan"]["removed"] == ["jobs-slow"]
    assert site.pids()["cron:cron"] == cron
    assert "jobs-slow:jobs-slow_00" not in site.pids()
    status = cli("status", "--state-dir", str(site.state), "--format", "json")
    assert status.exit_code == 0, status.output
    assert "cron" not in status.output


@pytest.mark.parametrize("step", ["switched", "reloaded", "removed:jobs-default"])
def test_a_deploy_killed_mid_way_is_recovered_by_the_next(cli, site, step):
    before = _ready(cli, site)
    site.apps["jobs"]["workers"][0]["queues"] = ["default", "more"]
    site.write_app("jobs")
    _compile(cli, site)
    killed = run_deploy(site.bundle, env={"HZNCTL_DEPLOY_CRASH_AT": step})
    assert killed.returncode == -signal.SIGKILL
    result = cli("deploy", str(site.bundle), "--host", "test-host", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["recovered"] is not None
    wait_for(site.running, timeout=30, what="workers RUNNING")
    after = site.pids()
    assert after["pinger-main:pinger-main_00"] == before["pinger-main:pinger-main_00"]
    assert after["jobs-default:jobs-default_00"] != before["jobs-default:jobs-default_00"]
    assert cli("status", "--state-dir", str(site.state)).exit_code == 0
    from rq import Queue

    Queue("more", connection=site.redis["redis-a"].client()).enqueue("tasks.record", "x")
    wait_for(lambda: site.redis["redis-a"].client().lrange("results", 0, -1) == [b"x"],
             timeout=30, what="the new queue is consumed")


def test_two_deploys_at_once_take_turns(cli, site):
    _ready(cli, site)
    site.apps["jobs"]["workers"][0]["queues"] = ["default", "more"]
    site.write_app("jobs")
    _compile(cli, site)
    # Hold the lock here, as a running deploy would, to make the overlap certain.
    import fcntl

    lock = open(site.state / "deploy.lock", "a+")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)
    refused = run_deploy(site.bundle, "--lock-timeout", "0.3")
    assert refused.returncode == 1 and "gave up after 0.3s" in refused.stderr
    waiting = deploy_process(site.bundle, "--lock-timeout", "30")
    wait_for(lambda: waiting.poll() is None, timeout=5)
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert "result: ok" in out


def _crash_pinger_after_boot(site) -> None:
    # A typical failed boot: up long enough to pass startsecs (1 s), then exit status 1.
    site.apps["pinger"]["command"] = (
        f"{sys.executable} -c 'import time; time.sleep(1.5); raise SystemExit(1)' {{queues}}")
    site.apps["pinger"]["workers"][0]["startsecs"] = 1
    site.write_app("pinger")


def test_a_worker_crashing_after_startsecs_is_caught_by_the_settle_window(cli, site):
    before = _ready(cli, site)
    current = (site.state / "current").resolve()
    _crash_pinger_after_boot(site)
    _compile(cli, site)
    # default --settle 3
    result = cli("deploy", str(site.bundle), "--host", "test-host", "--format", "json")
    assert result.exit_code == 1, result.output
    record = json.loads(result.output.split("\nhznctl: error:")[0])
    assert record["result"] == "rolled-back"
    assert "pinger-main_00 did not stay RUNNING through the 3s settle window" in record["error"]
    assert any(s in record["error"] for s in ("EXITED", "BACKOFF", "restarted")), record["error"]
    assert "settle window" in result.output.split("\nhznctl: error:")[1]
    assert (site.state / "current").resolve() == current
    wait_for(site.running, timeout=30, what="old workers RUNNING again")
    after = site.pids()
    assert set(after) == set(before)
    for name in before:
        if not name.startswith("pinger-"):
            assert after[name] == before[name], name  # untouched: same processes
    b = site.redis["redis-b"].client()
    b.rpush("pings", "after-rollback")
    wait_for(lambda: b.lrange("pongs", 0, -1) == [b"after-rollback"], timeout=20,
             what="the old pinger works again")
    # Without the window the same bundle is declared started: the window is what caught it.
    accepted = cli("deploy", str(site.bundle), "--host", "test-host", "--format", "json",
                   "--settle", "0")
    assert accepted.exit_code == 0, accepted.output
    record = json.loads(accepted.output)
    assert record["result"] == "ok" and record["actions"]["added"] == ["pinger-main"]
    assert record["settle_window"] == 0
    assert (site.state / "current").resolve() != current
