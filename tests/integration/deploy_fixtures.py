"""Helpers for the deploy/status tests: hand-written bundles built with hznctl.bundle (the
same writer `compile` uses), a deploy runner in a subprocess, and PID snapshots."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hznctl.bundle import GroupEntry, HostBundle, Manifest, SupervisordRef, write_bundles
from tests.support import Supervisord, wait_for

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
    """`hznctl deploy` as a real process (for kill and concurrency tests)."""
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
    """Every path under ``root`` with its content hash or link target (to prove 'unchanged')."""
    found: dict[str, str] = {}
    if not root.exists():
        return found
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            found[rel] = _sha(path.read_bytes())
    return found
