"""Inventories for health tests: connections pointing at real redis-servers on loopback.

Passwords are encrypted with the real sops binary for a runner key made in the test; one
SOPS file per distinct (password, recipients), shared by every connection that uses it.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.support import AgeKey, sops_encrypt


@dataclass
class Conn:
    name: str
    port: int
    password: str | None = None
    database: int = 0
    environment: str = "production"
    health: dict[str, Any] = field(default_factory=dict)
    recipients: list[str] | None = None  # default: the runner's key


@dataclass
class App:
    slug: str
    runtime: str
    connection: str
    queues: list[str]
    key_prefix: str = ""
    environment: str = "production"
    extra: dict[str, Any] = field(default_factory=dict)  # more application fields


def write_inventory(root: Path, runner: AgeKey, connections: list[Conn],
                    apps: Sequence[App] = (), *, check_timeout: float = 2.0,
                    deadline: float = 10.0, concurrency: int = 200,
                    notifications: Sequence[dict[str, Any]] = (),
                    secrets_cache: dict[tuple[str, tuple[str, ...]], Path] | None = None) -> Path:
    """Write project, connections, applications and secrets under ``root``."""
    (root / "connections").mkdir(parents=True, exist_ok=True)
    (root / "applications").mkdir(exist_ok=True)
    project = {"name": "health-test", "environments": ["production", "staging"],
               "health": {"recipients": [runner.recipient], "check_timeout": check_timeout,
                          "deadline": deadline, "concurrency": concurrency}}
    _dump(root / "project.yaml", project)
    cache = {} if secrets_cache is None else secrets_cache
    for conn in connections:
        doc: dict[str, Any] = {"name": conn.name, "host": "127.0.0.1", "port": conn.port,
                               "database": conn.database, "environment": conn.environment,
                               "options": {"connect_timeout": 1, "read_timeout": 2}}
        if conn.password is not None:
            recipients = tuple(conn.recipients or [runner.recipient])
            path = _secret(root, cache, conn.password, recipients)
            doc["password"] = {"sops": path.relative_to(root).as_posix(), "key": "password"}
        if conn.health:
            doc["health"] = conn.health
        _dump(root / "connections" / f"{conn.name}.yaml", doc)
    for app in apps:
        _dump(root / "applications" / f"{app.slug}.yaml", {
            "name": app.slug, "slug": app.slug, "runtime": app.runtime,
            "environment": app.environment, "directory": f"/srv/{app.slug}",
            "key_prefix": app.key_prefix, "connections": [{"connection": app.connection,
                                                           "primary": True}],
            "workers": [{"name": "main", "queues": app.queues}], **app.extra})
    if notifications:
        (root / "notifications").mkdir(exist_ok=True)
        for given in notifications:
            channel = dict(given)
            url = channel.pop("url_plain")
            secret = root / "secrets" / f"notify-{channel['name']}.yaml"
            sops_encrypt({"url": url}, [runner.recipient], secret)
            channel["url"] = {"sops": f"secrets/{secret.name}", "key": "url"}
            _dump(root / "notifications" / f"{channel['name']}.yaml", channel)
    return root


def _secret(root: Path, cache: dict[tuple[str, tuple[str, ...]], Path], password: str,
            recipients: tuple[str, ...]) -> Path:
    key = (password, recipients)
    made = cache.get(key)
    if made is None:
        made = root / "secrets" / f"pw-{len(cache)}.yaml"
        sops_encrypt({"password": password}, list(recipients), made)
        cache[key] = made
    elif not made.is_relative_to(root):  # a file made for another inventory: copy it
        target = root / "secrets" / made.name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(made.read_bytes())
        made = target
    return made


def _dump(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@dataclass
class BlackHole:
    """A TCP server that accepts connections and never says anything."""

    sock: socket.socket
    accepted: list[socket.socket] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.sock.close()


def black_hole() -> BlackHole:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    hole = BlackHole(sock)

    def accept() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            hole.accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    return hole


@dataclass
class Webhook:
    """A local HTTP server that records every POST; ``fail`` makes it answer 500."""

    server: ThreadingHTTPServer
    received: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook/s3cret-token"


def start_webhook(*, fail: bool = False) -> Webhook:
    hook: Webhook

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hook.received.append({"path": self.path, "body": json.loads(body)})
            self.send_response(500 if hook.fail else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook = Webhook(server, fail=fail)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return hook


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {c["connection"]: c["status"] for c in report["connections"]}


def iter_report_files(out: Path) -> Iterator[Path]:
    yield from sorted(p for p in out.iterdir() if p.is_file())
