"""The local services the demo runs: redis-servers and a supervisord in a temporary folder.

Each runs in its own session, so that a Ctrl-C in the terminal reaches the demo only and
the demo stops them in order (workers gracefully first, Redis last). Passwords reach
redis-server on its stdin, never on a command line or in a file.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hznctl.deploy.supervisor import Address, Supervisor
from hznctl.errors import HznctlError


def wait_until(condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
    """Poll ``condition`` until it is truthy; an error naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            value = condition()
            if value:
                return value
        if time.monotonic() > deadline:
            raise HznctlError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def program(name: str) -> str:
    """A program from this interpreter's environment (supervisord, rq) or from PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise HznctlError(f"the demo needs {name}, which is not installed "
                          "(`scripts/bootstrap` installs what it needs)")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def current_user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]

    def stop(self, timeout: float) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


@dataclass
class Redis(Service):
    port: int
    password: str

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                           socket_timeout=5)

    def ready(self) -> bool:
        return self.process.poll() is None and bool(self.client().ping())


def start_redis(name: str, folder: Path, password: str) -> Redis:
    executable = shutil.which("redis-server")
    if executable is None:
        raise HznctlError("the demo needs redis-server (Debian/Ubuntu: apt-get install "
                          "redis-server; `scripts/bootstrap` installs it as root)")
    folder.mkdir(parents=True, exist_ok=True)
    for _attempt in range(5):
        port = free_port()
        config = (f"port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\n"
                  f"dir {folder}\nlogfile {folder / 'redis.log'}\nrequirepass {password}\n")
        process = subprocess.Popen([executable, "-"], stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        assert process.stdin is not None
        process.stdin.write(config.encode())
        process.stdin.close()
        server = Redis(name, process, port, password)
        try:
            wait_until(server.ready, timeout=10, what=f"redis-server for {name}")
            return server
        except HznctlError:
            server.stop(5)  # most likely the port was taken meanwhile: try another
    raise HznctlError(f"could not start redis-server for {name}")


# An AF_UNIX path holds 107 bytes, and supervisord first binds "<file>.<pid>" and then
# renames it, so a socket in a deep folder (a long --workdir) would never come up.
_SOCKET_ROOM = 107 - len(".4194304")


def _socket_path(folder: Path) -> tuple[Path, Path | None]:
    """The socket in ``folder`` or, when that path is too long, in a short private folder."""
    sock = folder / "supervisor.sock"
    if len(os.fsencode(sock)) <= _SOCKET_ROOM:
        return sock, None
    short = Path(tempfile.mkdtemp(prefix="hznctl-demo-"))
    return short / "supervisor.sock", short


@dataclass
class Supervisord(Service):
    config: Path
    socket: Path
    include_dir: Path
    socket_dir: Path | None = None

    def stop(self, timeout: float) -> None:
        try:
            super().stop(timeout)
        finally:
            if self.socket_dir is not None:
                shutil.rmtree(self.socket_dir, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def client(self) -> Supervisor:
        return Supervisor(Address(self.url, timeout=10))

    def processes(self) -> list[dict[str, Any]]:
        return self.client().processes()


def start_supervisord(folder: Path) -> Supervisord:
    include = folder / "conf.d"
    include.mkdir(parents=True, exist_ok=True)
    sock, socket_dir = _socket_path(folder)
    config = folder / "supervisord.conf"
    config.write_text(f"""; the demo's supervisord; hznctl deploy links program files into conf.d
[unix_http_server]
file={sock}
chmod=0700

[supervisord]
logfile={folder / 'supervisord.log'}
pidfile={folder / 'supervisord.pid'}
childlogdir={folder}
nodaemon=true
user={current_user()}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{sock}

[include]
files = {include}/*.conf
""")
    process = subprocess.Popen([program("supervisord"), "-n", "-c", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    sup = Supervisord("supervisord", process, config, sock, include, socket_dir)
    wait_until(lambda: process.poll() is None
               and sup.client().state() == "RUNNING",
               timeout=30, what="supervisord")
    return sup
