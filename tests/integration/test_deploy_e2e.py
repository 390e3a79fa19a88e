"""compile → deploy → real workers, all real: redis-server, supervisord, sops with age keys,
RQ workers through `hznctl exec`, and a command-runtime worker written here.

Proves: jobs are processed; changing one worker group restarts only its processes; a job in
flight finishes across its group's graceful restart; rotating a connection's password
restarts exactly the workers that use it, and they work with the new password."""

from __future__ import annotations

import json
import os
import pwd
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.deploy_fixtures import hznctl_bin
from tests.support import (
    AgeKey,
    RedisServer,
    Supervisord,
    make_age_key,
    sops_encrypt,
    start_redis,
    start_supervisord,
    venv_bin,
    wait_for,
)

pytestmark = pytest.mark.integration

TASKS = '''
import os
import time

from rq import get_current_job


def record(token):
    get_current_job().connection.rpush("results", token)
    return token


def slow(token, seconds):
    conn = get_current_job().connection
    conn.rpush("slow-started", token)
    time.sleep(seconds)
    conn.rpush("results", token)
    return token
'''

PINGER = '''
import os, signal, sys, redis
stop = False
def _term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, _term)
conn = redis.Redis.from_url(os.environ["REDIS_URL"])
queue = sys.argv[1]
conn.ping()
while not stop:
    item = conn.blpop([queue], timeout=1)
    if item:
        conn.rpush("pongs", item[1])
'''


@dataclass
class Site:
    """An inventory in a temp folder for one host whose supervisord runs here."""

    root: Path
    inventory: Path
    out: Path
    sup: Supervisord
    state: Path
    host_key: AgeKey
    runner_key: AgeKey
    redis: dict[str, RedisServer]
    apps: dict[str, dict[str, Any]]

    @property
    def bundle(self) -> Path:
        return self.out / "test-host"

    def write_app(self, slug: str) -> None:
        _dump(self.inventory / "applications" / f"{slug}.yaml", self.apps[slug])

    def set_password(self, connection: str, password: str) -> None:
        sops_encrypt({"password": password}, [self.host_key.recipient, self.runner_key.recipient],
                     self.inventory / "secrets" / f"{connection}.yaml")

    def pids(self) -> dict[str, int]:
        return {f"{p['group']}:{p['name']}": p["pid"] for p in self.sup.processes()}

    def running(self) -> bool:
        procs = self.sup.processes()
        return bool(procs) and all(p["statename"] == "RUNNING" for p in procs)


def _dump(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def site(tmp_path, cli):
    redis_a = start_redis(tmp_path, password="pw-a-1")
    redis_b = start_redis(tmp_path, password="pw-b-1")
    sup = start_supervisord(tmp_path)
    try:
        yield _build_site(tmp_path, sup, {"redis-a": redis_a, "redis-b": redis_b}, cli)
    finally:
        sup.stop()
        redis_a.stop()
        redis_b.stop()


def _build_site(tmp: Path, sup: Supervisord, redis: dict[str, RedisServer], cli) -> Site:
    inv = tmp / "inventory"
    app_dir = tmp / "app"
    app_dir.mkdir()
    (app_dir / "tasks.py").write_text(TASKS)
    (app_dir / "pinger.py").write_text(textwrap.dedent(PINGER))
    state = tmp / "state"
    host_key = make_age_key(tmp / "keys" / "host.agekey")
    runner_key = make_age_key(tmp / "keys" / "runner.agekey")
    _dump(inv / "project.yaml", {
        "name": "deploy-e2e", "environments": ["test"], "stop_margin": 5,
        "health": {"recipients": [runner_key.recipient]},
    })
    _dump(inv / "hosts" / "test-host.yaml", {
        "name": "test-host", "environment": "test", "age_recipient": host_key.recipient,
        "supervisord": {"url": sup.url, "include_dir": str(sup.include_dir),
                        "state_dir": str(state), "log_dir": str(tmp / "log"),
                        "age_key_file": str(host_key.path), "hznctl_bin": hznctl_bin()},
    })
    site = Site(tmp, inv, tmp / "out", sup, state, host_key, runner_key, redis, {})
    for name, server in redis.items():
        _dump(inv / "connections" / f"{name}.yaml", {
            "name": name, "host": "127.0.0.1", "port": server.port, "environment": "test",
            "password": {"sops": f"secrets/{name}.yaml", "key": "password"}})
        site.set_password(name, server.password or "")
    common = {"environment": "test", "directory": str(app_dir), "user": _user()}
    site.apps["jobs"] = {
        "name": "Jobs", "slug": "jobs", "runtime": "rq", **common,
        "executable": venv_bin("rq"),
        "connections": [{"connection": "redis-a", "primary": True}],
        "workers": [
            {"name": "default", "queues": ["default"], "max_processes": 2, "timeout": 10,
             "hosts": ["test-host"]},
            {"name": "slow", "queues": ["slow"], "timeout": 10, "hosts": ["test-host"]},
        ]}
    site.apps["pinger"] = {
        "name": "Pinger", "slug": "pinger", "runtime": "command", **common,
        "command": f"{sys.executable} pinger.py {{queues}}",
        "connections": [{"connection": "redis-b", "primary": True}],
        "workers": [{"name": "main", "queues": ["pings"], "hosts": ["test-host"]}]}
    for slug in site.apps:
        site.write_app(slug)
    return site


def compile_and_deploy(cli, site: Site, *args: str) -> dict[str, Any]:
    compiled = cli("compile", str(site.inventory), "--out", str(site.out))
    assert compiled.exit_code == 0, compiled.output
    result = cli("deploy", str(site.bundle), "--format", "json", *args)
    assert result.exit_code == 0, result.output
    record: dict[str, Any] = json.loads(result.output)
    return record


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
