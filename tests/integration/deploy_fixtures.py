"""Helpers for the deploy/status tests: hand-written bundles built with hznctl.bundle (the
same writer `compile` uses), a deploy runner in a subprocess, and PID snapshots."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hznctl.bundle.manifest import GroupEntry, HostBundle, Manifest, SupervisordRef
from hznctl.bundle.writer import write_bundles
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

HOST = "test-host"


@dataclass
class Group:
    """A command-runtime worker group for a hand-written bundle."""

    command: str = "sleep 3600"
    numprocs: int = 1
    startsecs: int = 0
    stopwaitsecs: int = 10
    environment: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Host:
    """Where a test host keeps what hznctl manages, around a real supervisord."""

    sup: Supervisord
    root: Path

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def include_dir(self) -> Path:
        return self.sup.include_dir

    def pids(self) -> dict[str, int]:
        return {f"{p['group']}:{p['name']}": p["pid"] for p in self.sup.processes()}

    def states(self) -> dict[str, str]:
        return {f"{p['group']}:{p['name']}": p["statename"] for p in self.sup.processes()}

    def all_running(self, groups: dict[str, Group]) -> bool:
        states = self.states()
        expected = {f"{g}:{n}" for g, spec in groups.items() for n in process_names(g, spec)}
        managed = {k for k in states if k.split(":")[0] in groups}
        return managed == expected and all(states[k] == "RUNNING" for k in expected)

    def records(self) -> list[dict[str, Any]]:
        path = self.state_dir / "deploys.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]


def process_names(name: str, group: Group) -> list[str]:
    return [f"{name}_{i:02d}" for i in range(group.numprocs)]


def program_text(name: str, group: Group, host: Host) -> tuple[str, dict[str, str]]:
    settings = {
        "command": group.command,
        "process_name": "%(program_name)s_%(process_num)02d",
        "numprocs": str(group.numprocs),
        "startsecs": str(group.startsecs),
        "stopwaitsecs": str(group.stopwaitsecs),
        "stopsignal": "TERM",
        "stopasgroup": "true",
        "killasgroup": "true",
        "autostart": "true",
        "autorestart": "true",
        "startretries": "1",
        "redirect_stderr": "true",
        "stdout_logfile": f"{host.log_dir}/{name}.log",
        **group.extra,
    }
    if group.environment:
        settings["environment"] = ",".join(f'{k}="{v}"' for k, v in group.environment.items())
    lines = [f"[program:{name}]"] + [f"{k}={v}" for k, v in settings.items()]
    return "\n".join(lines) + "\n", settings


def make_bundle(out: Path, host: Host, groups: dict[str, Group], *,
                revision: str = "r1", extra_files: dict[str, bytes] | None = None) -> Path:
    """Write a host bundle for ``groups`` into ``out/<HOST>`` with hznctl.bundle."""
    host.log_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = dict(extra_files or {})
    entries = {}
    for name, group in sorted(groups.items()):
        text, settings = program_text(name, group, host)
        files[f"programs/{name}.conf"] = text.encode()
        files[f"exec/{name}.json"] = json.dumps({"group": name}).encode()
        entries[name] = GroupEntry(
            application=name.split("-")[0], worker=name, runtime="command",
            file=f"programs/{name}.conf", sha256=_sha(files[f"programs/{name}.conf"]),
            processes=group.numprocs, process_names=process_names(name, group),
            startsecs=group.startsecs, stopwaitsecs=group.stopwaitsecs,
            settings={k: v for k, v in settings.items() if k != "process_name"},
            files=[f"exec/{name}.json"])
    manifest = Manifest(
        generator="tests", host=HOST, environment="test", revision=revision,
        supervisord=SupervisordRef(url=host.sup.url, include_dir=str(host.include_dir),
                                   state_dir=str(host.state_dir), log_dir=str(host.log_dir)),
        groups=entries, files={p: _sha(d) for p, d in sorted(files.items())})
    write_bundles(out, {HOST: HostBundle(HOST, manifest, files)})
    return out / HOST


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hznctl_bin() -> str:
    return str(Path(sys.executable).parent / "hznctl")


def deploy_process(bundle: Path, *args: str, env: dict[str, str] | None = None
                   ) -> subprocess.Popen[str]:
    """`hznctl deploy` as a real process (for kill and concurrency tests); this machine is
    HOST unless ``--host`` says otherwise."""
    if "--host" not in args:
        args = (*args, "--host", HOST)
    return subprocess.Popen([hznctl_bin(), "deploy", str(bundle), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def run_deploy(bundle: Path, *args: str, env: dict[str, str] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = deploy_process(bundle, *args, env=env)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def wait_running(host: Host, groups: dict[str, Group], timeout: float = 20) -> None:
    wait_for(lambda: host.all_running(groups), timeout=timeout, what="groups RUNNING")


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its content hash or link target (to prove 'unchanged');
    the lock file only says who held the lock last, so it is left out."""
    found: dict[str, str] = {}
    if not root.exists():
        return found
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if rel == "deploy.lock":
            continue
        if path.is_symlink():
            found[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            found[rel] = _sha(path.read_bytes())
    return found


# ---- compiled inventories (compile → deploy) ------------------------------------------

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


def compiled_site(tmp_path: Path) -> Iterator[Site]:
    """A Site with two real Redis servers (passwords in SOPS files) and a real supervisord;
    stopped afterwards. Use it from a fixture: `yield from compiled_site(tmp_path)`."""
    redis_a = start_redis(tmp_path, password="pw-a-1")
    redis_b = start_redis(tmp_path, password="pw-b-1")
    sup = start_supervisord(tmp_path)
    try:
        yield _build_site(tmp_path, sup, {"redis-a": redis_a, "redis-b": redis_b})
    finally:
        sup.stop()
        redis_a.stop()
        redis_b.stop()


def _build_site(tmp: Path, sup: Supervisord, redis: dict[str, RedisServer]) -> Site:
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
        "privileges": {"root": os.getuid() == 0, "paths": [str(tmp)]},
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


def compile_and_deploy(cli: Any, site: Site, *args: str) -> dict[str, Any]:
    compiled = cli("compile", str(site.inventory), "--out", str(site.out))
    assert compiled.exit_code == 0, compiled.output
    if "--host" not in args:
        args = (*args, "--host", HOST)
    result = cli("deploy", str(site.bundle), "--format", "json", *args)
    assert result.exit_code == 0, result.output
    record: dict[str, Any] = json.loads(result.output)
    return record


