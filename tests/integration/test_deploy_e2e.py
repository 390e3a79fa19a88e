"""compile → deploy → real workers, all real: redis-server, supervisord, sops with age keys,
RQ workers through `hznctl exec`, and a command-runtime worker written here.

Proves: jobs are processed; changing one worker group restarts only its processes; a job in
flight finishes across its group's graceful restart; rotating a connection's password
restarts exactly the workers that use it, and they work with the new password."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.deploy_fixtures import Site, compile_and_deploy, compiled_site
from tests.support import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def site(tmp_path):
    yield from compiled_site(tmp_path)


def _enqueue(site: Site, queue: str, func: str, *args: Any) -> Any:
    from rq import Queue

    return Queue(queue, connection=site.redis["redis-a"].client()).enqueue(func, *args)


def _results(site: Site) -> list[bytes]:
    return list(site.redis["redis-a"].client().lrange("results", 0, -1))


def test_compile_deploy_and_workers_process_jobs(cli, site):
    record = compile_and_deploy(cli, site)
    assert record["result"] == "ok"
    assert record["plan"]["added"] == ["jobs-default", "jobs-slow", "pinger-main"]
    wait_for(site.running, timeout=30, what="workers RUNNING")
    assert set(site.pids()) == {"jobs-default:jobs-default_00", "jobs-default:jobs-default_01",
                                "jobs-slow:jobs-slow_00", "pinger-main:pinger-main_00"}
    for n in range(4):
        _enqueue(site, "default", "tasks.record", f"job-{n}")
    wait_for(lambda: len(_results(site)) == 4, timeout=30, what="RQ jobs processed")
    b = site.redis["redis-b"].client()
    b.rpush("pings", "hello")
    wait_for(lambda: b.lrange("pongs", 0, -1) == [b"hello"], timeout=20, what="pong")
    status = cli("status", "--state-dir", str(site.state))
    assert status.exit_code == 0, status.output


def test_changing_one_group_restarts_only_its_processes(cli, site):
    compile_and_deploy(cli, site)
    wait_for(site.running, timeout=30, what="workers RUNNING")
    before = site.pids()
    site.apps["jobs"]["workers"][0]["queues"] = ["default", "extra"]
    site.write_app("jobs")
    record = compile_and_deploy(cli, site)
    assert record["plan"]["changed"] == ["jobs-default"]
    assert record["actions"]["added"] == ["jobs-default"]
    after = site.pids()
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"jobs-default:jobs-default_00", "jobs-default:jobs-default_01"}
    _enqueue(site, "extra", "tasks.record", "on-extra")
    wait_for(lambda: _results(site) == [b"on-extra"], timeout=30, what="job on new queue")


def test_a_job_in_flight_finishes_across_its_groups_restart(cli, site):
    compile_and_deploy(cli, site)
    wait_for(site.running, timeout=30, what="workers RUNNING")
    job = _enqueue(site, "slow", "tasks.slow", "slow-job", 3)
    conn = site.redis["redis-a"].client()
    wait_for(lambda: conn.lrange("slow-started", 0, -1), timeout=30, what="slow job started")
    site.apps["jobs"]["workers"][1]["env"] = {"CHANGED": "1"}
    site.write_app("jobs")
    record = compile_and_deploy(cli, site)
    assert record["plan"]["changed"] == ["jobs-slow"]
    # The deploy waited for the job: the graceful stop let it finish before the restart.
    assert _results(site) == [b"slow-job"]
    assert record["actions"]["durations"]["stop"] > 1.0
    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() == "slow-job"


def test_rotating_a_password_restarts_exactly_the_workers_using_it(cli, site):
    # The workers have registered themselves in redis (settle window) before the rotation:
    # they cannot unregister once the password changes under them, and their successors
    # must start all the same.
    compile_and_deploy(cli, site)
    wait_for(site.running, timeout=30, what="workers RUNNING")
    before = site.pids()
    redis_a = site.redis["redis-a"]
    redis_a.client().config_set("requirepass", "pw-a-2")
    redis_a.password = "pw-a-2"
    site.set_password("redis-a", "pw-a-2")
    record = compile_and_deploy(cli, site)
    assert record["plan"]["changed"] == ["jobs-default", "jobs-slow"]
    assert record["plan"]["unchanged"] == ["pinger-main"]
    after = site.pids()
    assert after["pinger-main:pinger-main_00"] == before["pinger-main:pinger-main_00"]
    assert all(after[k] != before[k] for k in before if k.startswith("jobs-"))
    wait_for(site.running, timeout=30, what="workers RUNNING")
    _enqueue(site, "default", "tasks.record", "after-rotation")
    wait_for(lambda: _results(site) == [b"after-rotation"], timeout=30,
             what="job processed with the new password")
    # No plaintext password in anything deploy wrote.
    for path in site.state.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"pw-a-2" not in data and b"pw-a-1" not in data, path


def test_re_keying_a_secret_restarts_nothing(cli, site, tmp_path):
    """Adding and then removing a recipient re-encrypts the secret files (`sops updatekeys`
    rewrites only the wrapped data keys; sops' cmd/sops/subcommand/updatekeys keeps the tree's
    values and MAC): the deploys install the new files and restart no worker, and the plan
    says the files were re-keyed."""
    from tests.support import make_age_key

    compile_and_deploy(cli, site)
    wait_for(site.running, timeout=30, what="workers RUNNING")
    before = site.pids()
    extra = make_age_key(tmp_path / "keys" / "second-runner.agekey")
    project = site.inventory / "project.yaml"
    original = project.read_text()
    for recipients in ([site.runner_key.recipient, extra.recipient], [site.runner_key.recipient]):
        old_bytes = (site.inventory / "secrets" / "redis-a.yaml").read_bytes()
        previous = site.root / f"previous-{len(recipients)}"
        cli("compile", str(site.inventory), "--out", str(previous))
        project.write_text(original.replace(
            f"- {site.runner_key.recipient}", "\n".join(f"  - {r}" for r in recipients)
            .lstrip()))
        synced = cli("secrets", "sync", str(site.inventory), "--identity",
                     str(site.runner_key.path))
        assert synced.exit_code == 0, synced.output
        assert "secrets/redis-a.yaml: updated" in synced.output
        assert (site.inventory / "secrets" / "redis-a.yaml").read_bytes() != old_bytes
        record = compile_and_deploy(cli, site)
        assert record["result"] == "ok", record
        assert record["plan"]["changed"] == [] and record["plan"]["added"] == []
        assert site.pids() == before
        shown = cli("plan", str(previous / "test-host"), str(site.bundle))
        assert shown.exit_code == 0, shown.output
        assert ("= secrets/redis-a.yaml: re-encrypted for other recipients, same password: "
                "restarts nothing") in shown.output
        assert "~" not in shown.output
    # The installed files are the re-keyed ones, and the workers still work with them.
    installed = site.state / "current" / "secrets" / "redis-a.yaml"
    assert installed.read_bytes() == (site.inventory / "secrets" / "redis-a.yaml").read_bytes()
    _enqueue(site, "default", "tasks.record", "after-re-key")
    wait_for(lambda: _results(site) == [b"after-re-key"], timeout=30, what="job after re-key")
