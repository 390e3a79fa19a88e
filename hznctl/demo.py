"""`hznctl demo`: the whole loop on this machine, for a newcomer.

In a temporary folder: a redis-server per connection of the demo inventory (`demo/`), a
supervisord, the inventory copied and pointed at them, then the real commands an operator
and CI run — `hznctl compile`, `hznctl deploy`, `hznctl status`, `hznctl health` — with
real workers consuming real jobs in between. Everything started is stopped on exit,
Ctrl-C included, and the folder is removed unless asked to keep it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hznctl.demo_services import (
    Redis,
    Service,
    Supervisord,
    current_user,
    program,
    start_redis,
    start_supervisord,
    wait_until,
)
from hznctl.errors import HznctlError
from hznctl.models import Runtime

HOST = "demo-host"
CHANGED_APP = "billing"
# What the demo tells its caller: ("step" | "command" | "output", text).
Report = Callable[[str, str], None]


@dataclass(frozen=True)
class DemoOptions:
    source: Path
    workdir: Path | None = None
    keep: bool = False
    timeout: float = 120.0


@dataclass(frozen=True)
class Job:
    application: str
    connection: str
    queue: str
    runtime: Runtime


@dataclass
class DemoResult:
    root: Path
    jobs: int = 0
    done: list[str] = field(default_factory=list)
    health_exit: int = -1
    kept: int = 0
    looks: list[tuple[str, str]] = field(default_factory=list)


def find_source(explicit: Path | None = None) -> Path:
    """The demo folder: given, ./demo, or the one next to this package (a checkout)."""
    candidates = [explicit] if explicit else [Path("demo"),
                                              Path(__file__).resolve().parents[1] / "demo"]
    for candidate in candidates:
        if candidate is not None and (candidate / "inventory" / "project.yaml").is_file():
            return candidate.resolve()
    raise HznctlError("no demo folder (demo/inventory/project.yaml): run the demo from a "
                      "checkout of hznctl (`make demo`) or pass --source")


class Demo:
    """Owns every process and file the demo makes; ``close`` undoes them all."""

    def __init__(self, options: DemoOptions, report: Report) -> None:
        self.options = options
        self.report = report
        self.services: list[Service] = []
        self.redis: dict[str, Redis] = {}
        self.supervisord: Supervisord | None = None
        self.created_root = options.workdir is None
        if options.workdir is not None and options.workdir.exists() and any(
                options.workdir.iterdir()):
            raise HznctlError(f"{options.workdir} is not empty; the demo needs a new or "
                              "empty folder")
        self.root = (Path(tempfile.mkdtemp(prefix="hznctl-demo-")) if options.workdir is None
                     else options.workdir.resolve())

    def __enter__(self) -> Demo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self) -> DemoResult:
        _require_rq()
        result = DemoResult(self.root)
        self.start()
        self.report("step", "compile every host's bundle")
        self.hznctl("compile", "inventory", "--out", "bundles")
        self.report("step", "deploy the bundle to this machine's supervisord")
        self.hznctl("deploy", f"bundles/{HOST}", "--host", HOST,
                    "--timeout", str(self.options.timeout))
        self._wait_running()
        self.hznctl("status", "--state-dir", "state")
        jobs = self._jobs()
        self.report("step", f"enqueue {len(jobs)} jobs, one on every queue, and wait until "
                            "the workers have run them")
        self._enqueue(jobs)
        result.jobs = len(jobs)
        wait_until(lambda: len(self._done()) >= len(jobs), timeout=self.options.timeout,
                   what=f"the workers to run {len(jobs)} jobs")
        result.done = self._done()
        self.report("output", "\n".join(sorted(result.done)))
        result.kept = self._change_one_group()
        self.report("step", "probe every Redis connection and write the health reports")
        result.health_exit = self.hznctl(
            "health", "inventory", "--out", "reports", "--history", "history/health.jsonl",
            "--identity", "keys/health-runner.agekey", "--no-notify", check=False)
        result.looks = self._looks()
        return result

    # -- setting up ----------------------------------------------------------------------

    def start(self) -> None:
        """Copy the demo here, start its redis-servers and supervisord, point it at them."""
        source = self.options.source
        self.root.mkdir(parents=True, exist_ok=True)
        self.report("step", f"working in {self.root}")
        shutil.copytree(source / "inventory", self.root / "inventory")
        shutil.copytree(source / "app", self.root / "app")
        for name in ("health-runner", HOST):
            key = self.root / "keys" / f"{name}.agekey"
            key.parent.mkdir(mode=0o700, exist_ok=True)
            shutil.copyfile(source / "keys" / f"{name}.agekey", key)
            key.chmod(0o600)
        passwords = self._passwords()
        for name in sorted(passwords):
            self.report("step", f"start redis-server for connection {name}")
            server = start_redis(name, self.root / "redis" / name, passwords[name])
            self.services.append(server)
            self.redis[name] = server
        self.report("step", "start supervisord")
        self.supervisord = start_supervisord(self.root / "supervisor")
        self.services.append(self.supervisord)
        self._point_inventory_here()

    def _passwords(self) -> dict[str, str]:
        """Each connection's password, read the way the health runner reads it."""
        from hznctl.inventory import load_inventory
        from hznctl.secrets.decrypt import decrypt_value, load_identities

        inventory = load_inventory(self.root / "inventory").inventory
        identities = load_identities([self.root / "keys" / "health-runner.agekey"])
        passwords = {}
        for name, connection in inventory.connections.items():
            if connection.password is not None:
                passwords[name] = decrypt_value(self.root / "inventory" / connection.password.sops,
                                                connection.password.key, identities)
        return passwords

    def _point_inventory_here(self) -> None:
        """Rewrite the copy: connections, the host and the applications' folders, here."""
        inv = self.root / "inventory"
        for name, server in self.redis.items():
            _edit(inv / "connections" / f"{name}.yaml", port=server.port)
        assert self.supervisord is not None
        _edit(inv / "hosts" / f"{HOST}.yaml", supervisord={
            "url": self.supervisord.url, "include_dir": str(self.supervisord.include_dir),
            "state_dir": str(self.root / "state"), "log_dir": str(self.root / "log"),
            "age_key_file": str(self.root / "keys" / f"{HOST}.agekey"),
            "hznctl_bin": program("hznctl")},
            # The demo's folders and user are this machine's: granted as an admin would.
            privileges={"root": current_user() == "root", "paths": [str(self.root)]})
        for path in sorted((inv / "applications").glob("*.yaml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            changes: dict[str, Any] = {"directory": str(self.root / "app"),
                                       "user": current_user()}
            if data.get("executable"):
                changes["executable"] = program(Path(data["executable"]).name)
            if data.get("command"):
                argv = shlex.split(data["command"])
                changes["command"] = shlex.join([sys.executable, *argv[1:]])
            _edit(path, **changes)

    # -- the loop ------------------------------------------------------------------------

    def hznctl(self, *args: str, check: bool = True) -> int:
        """Run a real hznctl command here, as an operator would, and report what it said."""
        self.report("command", "hznctl " + shlex.join(args))
        env = {k: v for k, v in os.environ.items()
               if k not in ("HZNCTL_AGE_KEY_FILE", "SOPS_AGE_KEY_FILE")}
        done = subprocess.run([sys.executable, "-m", "hznctl", *args], cwd=self.root,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                              stdin=subprocess.DEVNULL, timeout=self.options.timeout + 60,
                              start_new_session=True, check=False)
        output = done.stdout.decode("utf-8", "replace").rstrip()
        if output:
            self.report("output", output)
        if check and done.returncode != 0:
            raise HznctlError(f"`hznctl {shlex.join(args)}` failed (exit {done.returncode})")
        return done.returncode

    def _change_one_group(self) -> int:
        """A pull request's effect: one worker group changes; the plan says so; the redeploy
        restarts that group only. Returns how many processes kept running throughout."""
        path = self.root / "inventory" / "applications" / f"{CHANGED_APP}.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        workers = data["workers"]
        group = workers[0]
        before_count = group.get("max_processes", 1)
        group["max_processes"] = before_count + 1
        self.report("step", f"change one worker group ({CHANGED_APP}-{group['name']}: "
                            f"{before_count} → {before_count + 1} processes), plan, redeploy")
        _edit(path, workers=workers)
        before = self._pids()
        self.hznctl("compile", "inventory", "--out", "bundles-next")
        self.hznctl("plan", "bundles", "bundles-next")
        self.hznctl("deploy", f"bundles-next/{HOST}", "--timeout", str(self.options.timeout))
        self._wait_running()
        after = self._pids()
        kept = sum(1 for name, pid in before.items() if after.get(name) == pid)
        self.report("output", f"{kept} of {len(before)} processes kept running through the "
                              "deploy; only the changed group restarted")
        return kept

    def _pids(self) -> dict[str, int]:
        assert self.supervisord is not None
        return {f"{p['group']}:{p['name']}": p["pid"] for p in self.supervisord.processes()}

    def _wait_running(self) -> None:
        sup = self.supervisord
        assert sup is not None

        def all_running() -> bool:
            states = [p["statename"] for p in sup.processes()]
            return bool(states) and all(s == "RUNNING" for s in states)

        wait_until(all_running, timeout=self.options.timeout, what="every worker RUNNING")
        names = sorted(f"{p['group']}:{p['name']} (pid {p['pid']})" for p in sup.processes())
        self.report("output", "running: " + ", ".join(names))

    def _jobs(self) -> list[Job]:
        from hznctl.inventory import load_inventory

        inventory = load_inventory(self.root / "inventory").inventory
        jobs = []
        for slug, app in sorted(inventory.applications.items()):
            for worker in app.workers:
                connection = app.worker_connection(worker)
                assert connection is not None
                jobs += [Job(slug, connection, queue, app.runtime) for queue in worker.queues]
        return jobs

    def _enqueue(self, jobs: list[Job]) -> None:
        from rq import Queue

        for job in jobs:
            client = self.redis[job.connection].client()
            token = f"{job.application}/{job.queue}"
            if job.runtime is Runtime.RQ:
                Queue(job.queue, connection=client).enqueue("demo_tasks.record", token)
            else:
                client.rpush(job.queue, token)

    def _done(self) -> list[str]:
        done: list[str] = []
        for server in self.redis.values():
            done += [item.decode() for item in server.client().lrange("demo:done", 0, -1)]
        return done

    def _looks(self) -> list[tuple[str, str]]:
        assert self.supervisord is not None
        reports = self.root / "reports"
        return [
            ("health report (open in a browser)", str(reports / "index.html")),
            ("health summary", str(reports / "summary.md")),
            ("the other reports", f"{reports}/report.json, junit.xml, metrics.prom"),
            ("compiled bundles (before, after)",
             f"{self.root / 'bundles' / HOST}, {self.root / 'bundles-next' / HOST}"),
            ("deploy record", str(self.root / "state" / "deploys.jsonl")),
            ("worker logs", str(self.root / "log")),
            ("the workers", f"{program('supervisorctl')} -c {self.supervisord.config} status"),
            ("the inventory it ran", str(self.root / "inventory")),
        ]

    # -- tearing down --------------------------------------------------------------------

    def close(self) -> None:
        """Stop the workers (gracefully, through supervisord), then Redis; remove the folder;
        say what was stopped and what was removed or kept."""
        with _no_interrupts():
            stopped = []
            for service in reversed(self.services):
                what = self._describe(service)
                service.stop(timeout=60 if isinstance(service, Supervisord) else 10)
                stopped.append(what)
            self.services.clear()
            if stopped:
                self.report("step", "stopped " + "; ".join(stopped))
            if not self.options.keep and self.created_root:
                shutil.rmtree(self.root, ignore_errors=True)
                self.report("step", f"removed {self.root}")
            elif self.root.exists():
                self.report("step", f"kept {self.root} (reports, bundles, logs)")

    def _describe(self, service: Service) -> str:
        if isinstance(service, Supervisord):
            try:
                count = len(service.processes())
            except Exception:  # a supervisord that is already gone has no workers to stop
                count = 0
            return f"supervisord and its {count} worker process(es)"
        if isinstance(service, Redis):
            return f"redis-server for {service.name} (port {service.port})"
        return service.name


def _edit(path: Path, **changes: Any) -> None:
    from hznctl.atomic import write_text
    from hznctl.scaffold.objects import dump

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(changes)
    write_text(path, dump(data))


def _require_rq() -> None:
    try:
        import rq  # noqa: F401
    except ImportError:
        raise HznctlError("the demo's workers use RQ, which is not installed: "
                          "pip install rq (or run `make demo`)") from None


@contextlib.contextmanager
def _no_interrupts() -> Any:
    """A second Ctrl-C must not leave processes behind half-way through the cleanup."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to shield
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
