"""Real services for tests: redis-server, supervisord, age keys, sops. No mocks.

Every service runs on a free loopback port or a socket in a temporary folder and is
waited for with a deadline, never with a fixed sleep.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_INVENTORY = REPO / "inventory"
DEMO_KEYS = REPO / "demo" / "keys"


def wait_for(condition: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.02,
             what: str = "condition") -> Any:
    """Poll ``condition`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception as exc:
            last_error = exc
        else:
            if value:
                return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}"
                       + (f" (last error: {last_error!r})" if last_error else ""))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def venv_bin(name: str) -> str:
    """A console script of the running interpreter's environment (sops, supervisord, rq)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(name)
    return found


@dataclass
class RedisServer:
    port: int
    password: str | None
    process: subprocess.Popen[bytes]
    dir: Path

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def client(self, **kwargs: Any) -> Any:
        import redis

        return redis.Redis(host=self.host, port=self.port, password=self.password,
                           socket_timeout=5, **kwargs)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_redis(tmp: Path, *, password: str | None = None, extra: list[str] | None = None,
                port: int | None = None) -> RedisServer:
    if shutil.which("redis-server") is None:
        import pytest

        pytest.skip("redis-server is not installed")
    for _attempt in range(5):
        chosen = port or free_port()
        workdir = tmp / f"redis-{chosen}"
        workdir.mkdir(parents=True, exist_ok=True)
        args = ["redis-server", "--port", str(chosen), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no",
                "--logfile", str(workdir / "redis.log")]
        if password is not None:
            args += ["--requirepass", password]
        args += extra or []
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = RedisServer(chosen, password, process, workdir)
        try:
            wait_for(lambda s=server: s.process.poll() is None and s.client().ping(),
                     timeout=10, what=f"redis-server on port {chosen}")
            return server
        except TimeoutError:
            server.stop()
            if port is not None:
                raise
    raise RuntimeError("could not start redis-server on a free port")


@dataclass
class AgeKey:
    identity: str
    recipient: str
    path: Path


def make_age_key(path: Path) -> AgeKey:
    from pyrage import x25519

    ident = x25519.Identity.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# public key: {ident.to_public()}\n{ident}\n")
    path.chmod(0o600)
    return AgeKey(str(ident), str(ident.to_public()), path)


def sops_encrypt(plain: dict[str, str], recipients: list[str], out: Path) -> Path:
    """Encrypt a flat mapping with the real sops binary for the given age recipients."""
    import yaml

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".plain.yaml")
    tmp.write_text(yaml.safe_dump(plain))
    try:
        result = subprocess.run(
            [venv_bin("sops"), "--disable-version-check", "encrypt", "--age",
             ",".join(recipients), "--input-type", "yaml", "--output-type", "yaml", str(tmp)],
            check=True, capture_output=True, env={**os.environ, "SOPS_AGE_RECIPIENTS": ""},
        )
    finally:
        tmp.unlink()
    out.write_bytes(result.stdout)
    return out


@dataclass
class Supervisord:
    dir: Path
    include_dir: Path
    socket: Path
    process: subprocess.Popen[bytes]
    log: Path
    extra_config: str = ""
    _proxy: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def rpc(self) -> Any:
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, self.url)
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def processes(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.rpc().supervisor.getAllProcessInfo()
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_supervisord(tmp: Path, *, extra_config: str = "") -> Supervisord:
    base = tmp / "supervisor"
    include = base / "conf.d"
    include.mkdir(parents=True, exist_ok=True)
    sock = base / "supervisor.sock"
    conf = base / "supervisord.conf"
    log = base / "supervisord.log"
    conf.write_text(
        f"""[unix_http_server]
file={sock}
chmod=0700

[supervisord]
logfile={log}
pidfile={base}/supervisord.pid
childlogdir={base}
nodaemon=true
loglevel=info
user={_current_user()}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{sock}

[include]
files = {include}/*.conf
{extra_config}
"""
    )
    process = subprocess.Popen([venv_bin("supervisord"), "-n", "-c", str(conf)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sup = Supervisord(base, include, sock, process, log, extra_config)
    wait_for(lambda: process.poll() is None and sup.rpc().supervisor.getState()["statename"]
             == "RUNNING", timeout=20, what="supervisord")
    return sup


def _current_user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def collect_text(paths: list[Path]) -> Iterator[tuple[Path, bytes]]:
    """Every file under the given paths, for canary searches."""
    for root in paths:
        if root.is_file():
            yield root, root.read_bytes()
        elif root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    yield path, path.read_bytes()
