"""No-leak: a canary password, every command at every output format, zero occurrences.

The canary is set with `hznctl secrets set` (stdin), then validate, secrets status/sync,
compile, plan, deploy (a good worker, then a worker that fails), status, exec (a worker
that fails, a wrong key, a damaged file) and health (once it exists) run, in text, JSON and
the other formats, with and without HZNCTL_DEBUG. Searched: every file under the test's
folder (inventory, bundles, state, deploy records, supervisord and worker logs), every
stdout and stderr, every error text, and the process list (/proc/*/cmdline) sampled all
along while workers start through `hznctl exec`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from tests.support import (
    DEMO_KEYS,
    collect_text,
    make_age_key,
    start_redis,
    start_supervisord,
    venv_bin,
    wait_for,
)

pytestmark = pytest.mark.integration

CANARY = "CANARY-7f3a:@/#%?&=+ \"'-leak-zz"
FORMS = [CANARY, quote(CANARY, safe=""), json.dumps(CANARY)[1:-1], CANARY.split(":")[0] + ":@/"]

WORKER = textwrap.dedent("""
    import os, signal, sys, time, redis
    client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)
    client.ping()
    if sys.argv[1] == "fail":
        print("worker failing on purpose", flush=True)
        sys.exit(3)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(0.1)
""")


class ProcessWatch:
    """Samples every process's command line until stopped; remembers any canary hit."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        needle = CANARY.encode()
        while not self._stop.is_set():
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    cmdline = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if needle in cmdline or quote(CANARY, safe="").encode() in cmdline:
                    self.hits.append(cmdline.replace(b"\0", b" ").decode(errors="replace")[:80])
            self.samples += 1
            self._stop.wait(0.02)

    def __enter__(self) -> ProcessWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class Runner:
    """Runs `hznctl` in-process (fast) or as a real process; keeps every output."""

    def __init__(self, cwd: Path, cli) -> None:
        self.cwd = cwd
        self.cli = cli
        self.outputs: list[tuple[str, str]] = []

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None,
                 ok: tuple[int, ...] = (0, 1)):
        previous = Path.cwd()
        os.chdir(self.cwd)
        try:
            result = self.cli(*args, input=input, env=env)
        finally:
            os.chdir(previous)
        label = " ".join(args)
        self.outputs.append((label, result.stdout + result.stderr))
        assert result.exit_code in ok, (label, result.exit_code, result.output[-2000:])
        return result

    def process(self, *args: str, env: dict[str, str] | None = None,
                ok: tuple[int, ...] = (0, 1)) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([venv_bin("hznctl"), *args], text=True, capture_output=True,
                                cwd=self.cwd, timeout=180, env={**os.environ, **(env or {})})
        label = " ".join(args)
        self.outputs.append((label, result.stdout + result.stderr))
        assert result.returncode in ok, (label, result.returncode, result.stderr[-2000:])
        return result

    def every_format(self, args: list[str], formats: list[str], **kwargs) -> None:
        """Each output format, and the text one again in debug mode (HZNCTL_DEBUG=1)."""
        for fmt in formats:
            self(*args, "--format", fmt, **kwargs)
        self(*args, env={"HZNCTL_DEBUG": "1"}, **kwargs)


def _dump(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _inventory(tmp: Path, sup, redis_port: int, host_key, runner_key) -> Path:
    inv = tmp / "inventory"
    app_dir = tmp / "app"
    app_dir.mkdir()
    (app_dir / "worker.py").write_text(WORKER)
    _dump(inv / "project.yaml", {"name": "no-leak", "environments": ["test"],
                                 "stop_margin": 2,
                                 "health": {"recipients": [runner_key.recipient],
                                            "deadline": 5, "check_timeout": 2}})
    _dump(inv / "hosts" / "test-host.yaml", {
        "name": "test-host", "environment": "test", "age_recipient": host_key.recipient,
        "privileges": {"root": os.getuid() == 0, "paths": [str(tmp)]},
        "supervisord": {"url": sup.url, "include_dir": str(sup.include_dir),
                        "state_dir": str(tmp / "state"), "log_dir": str(tmp / "log"),
                        "age_key_file": str(host_key.path),
                        "hznctl_bin": venv_bin("hznctl")}})
    _dump(inv / "connections" / "redis-canary.yaml", {
        "name": "redis-canary", "host": "127.0.0.1", "port": redis_port,
        "environment": "test"})
    _app(inv, app_dir, ["good"])
    return inv


def _app(inv: Path, app_dir: Path, workers: list[str]) -> None:
    _dump(inv / "applications" / "canary-app.yaml", {
        "name": "Canary", "slug": "canary-app", "runtime": "command", "environment": "test",
        "directory": str(app_dir), "user": pwd.getpwuid(os.getuid()).pw_name,
        "command": f"{sys.executable} worker.py {{queues}}",
        "connections": [{"connection": "redis-canary", "primary": True}],
        "workers": [{"name": name, "queues": [name if name != "good" else "default"],
                     "hosts": ["test-host"], "startsecs": 1, "timeout": 5}
                    for name in workers]})


@pytest.fixture
def world(tmp_path):
    redis = start_redis(tmp_path)
    # The password is set over the protocol, not on redis-server's command line.
    redis.client().config_set("requirepass", CANARY)
    redis.password = CANARY
    sup = start_supervisord(tmp_path)
    try:
        yield tmp_path, redis, sup
    finally:
        sup.stop()
        redis.stop()


def test_the_canary_appears_nowhere(world, cli):
    tmp, redis, sup = world
    host_key = make_age_key(tmp / "keys" / "host.agekey")
    runner_key = make_age_key(tmp / "keys" / "runner.agekey")
    inv = _inventory(tmp, sup, redis.port, host_key, runner_key)
    work = tmp / "work"
    work.mkdir()
    run = Runner(work, cli)
    with ProcessWatch() as watch:
        run("secrets", "set", "redis-canary", str(inv), input=CANARY + "\n", ok=(0,))
        run.every_format(["validate", str(inv)], ["text", "json", "github"], ok=(0,))
        run("validate", str(inv), "-q", "--strict", ok=(0,))
        run.every_format(["secrets", "status", str(inv)], ["text", "json"], ok=(0,))
        run.every_format(["secrets", "sync", str(inv), "--check"], ["text", "json"], ok=(0,))
        for fmt in ("text", "json", "github"):
            run("compile", str(inv), "--out", str(tmp / "out1"), "--format", fmt, ok=(0,))
        run.every_format(["deploy", str(tmp / "out1" / "test-host"), "--host", "test-host",
                          "--timeout", "20"],
                         ["text", "json"], ok=(0,))
        wait_for(lambda: all(p["statename"] == "RUNNING" for p in sup.processes()),
                 timeout=20, what="good worker RUNNING")
        good = sup.processes()[0]["pid"]
        assert CANARY.encode() not in Path(f"/proc/{good}/cmdline").read_bytes()
        assert CANARY.encode() in Path(f"/proc/{good}/environ").read_bytes()  # it got there
        run.every_format(["status", "--state-dir", str(tmp / "state"),
                          "--include-dir", str(sup.include_dir)], ["text", "json"])

        _app(inv, tmp / "app", ["good", "fail"])
        for fmt in ("text", "json", "github"):
            run("compile", str(inv), "--out", str(tmp / "out2"), "--format", fmt, ok=(0,))
        run.every_format(["plan", str(tmp / "out1"), str(tmp / "out2")],
                         ["text", "json", "markdown"])
        run.every_format(["deploy", str(tmp / "out2" / "test-host"), "--dry-run"],
                         ["text", "json"])
        run.process("deploy", str(tmp / "out2" / "test-host"), "--timeout", "6", "--format",
                    "json", env={"HZNCTL_DEBUG": "1"}, ok=(0, 1))
        run.every_format(["status", "--state-dir", str(tmp / "state"),
                          "--include-dir", str(sup.include_dir)], ["text", "json"])

        spec = next((tmp / "out2" / "test-host" / "exec").glob("*fail*.json"))
        worker = [sys.executable, str(tmp / "app" / "worker.py"), "fail"]
        for debug in ("", "1"):
            env = {"HZNCTL_DEBUG": debug, "HZNCTL_AGE_KEY_FILE": str(host_key.path)}
            failed = run.process("exec", "--spec", str(spec), "--", *worker, env=env, ok=(3,))
            assert "worker failing on purpose" in failed.stdout
            wrong = run.process("exec", "--spec", str(spec), "--", *worker, ok=(1,),
                        env={**env, "HZNCTL_AGE_KEY_FILE": str(DEMO_KEYS / "worker-eu-1.agekey")})
            assert "none of the age identities" in wrong.stderr
        _health(run, inv, runner_key, redis)
    assert watch.samples > 10
    assert watch.hits == []
    _assert_nowhere(tmp, run.outputs)


def _health(run: Runner, inv: Path, runner_key, redis) -> None:
    """Health with the right password, then with a wrong one (the server's was changed)."""
    if importlib.util.find_spec("hznctl.cli.health") is None:
        return
    out = run.cwd / "reports"
    args = ["health", str(inv), "--identity", str(runner_key.path), "--out", str(out),
            "--history", str(run.cwd / "history.jsonl"), "--no-notify"]
    run.every_format(args, ["text", "json"])
    import redis as redis_py

    redis.client().config_set("requirepass", CANARY + "-changed")
    try:
        run.every_format(args, ["text", "json"])
    finally:
        redis_py.Redis(host=redis.host, port=redis.port, password=CANARY + "-changed",
                       socket_timeout=5).config_set("requirepass", CANARY)
    assert any(out.rglob("*")), "health wrote no report"


def _assert_nowhere(tmp: Path, outputs: list[tuple[str, str]]) -> None:
    for label, text in outputs:
        for form in FORMS:
            assert form not in text, f"canary in the output of `hznctl {label}`"
    files = list(collect_text([tmp]))
    assert len(files) > 20
    for path, data in files:
        for form in FORMS:
            assert form.encode() not in data, f"canary in {path}"
