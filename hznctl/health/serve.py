"""`hznctl health serve`: the monitor's HTTP side.

* ``/metrics``: the last completed round in Prometheus text, plus the monitor's own
  families; it answers from memory, never waiting on Redis or on a round.
* ``/healthz``: 200 while rounds complete, 503 when the last one is too old.
* ``/`` (``/index.html``) and ``/report.json``: the dashboard and the report of the round.
* ``/probe?target=<connection>``: probe one connection of the inventory now, like
  redis_exporter's multi-target ``/probe``; only names from the inventory, never an address.

Rounds run in one thread, the server in another; SIGHUP reloads the inventory, SIGTERM and
SIGINT stop. Every reply is bounded and plain; a slow or hostile client holds at most one
of ``MAX_CLIENTS`` handler slots, for at most ``CLIENT_TIMEOUT`` seconds.
"""

from __future__ import annotations

import gzip
import signal
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hznctl.health.monitor import Monitor, MonitorOptions

MAX_CLIENTS = 64
MAX_PROBES = 8  # /probe requests in flight at once
CLIENT_TIMEOUT = 10.0
TEXT = "text/plain; charset=utf-8"
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


def monitor_metrics(monitor: Monitor) -> bytes:
    """The monitor's own families, computed at scrape time (cheap: a few numbers)."""
    snapshot = monitor.snapshot
    age = time.monotonic() - snapshot.completed if snapshot else None
    lines = [
        "# HELP hznctl_monitor_rounds_total Probe rounds completed.",
        "# TYPE hznctl_monitor_rounds_total counter",
        f"hznctl_monitor_rounds_total {monitor.rounds}",
        "# HELP hznctl_monitor_failed_rounds_total Probe rounds that could not complete.",
        "# TYPE hznctl_monitor_failed_rounds_total counter",
        f"hznctl_monitor_failed_rounds_total {monitor.failed_rounds}",
        "# HELP hznctl_monitor_reloads_total Inventory reloads (SIGHUP) that loaded.",
        "# TYPE hznctl_monitor_reloads_total counter",
        f"hznctl_monitor_reloads_total {monitor.reloads}",
        "# HELP hznctl_monitor_reload_failed 1 when the last reload failed (the previous "
        "inventory stays loaded).",
        "# TYPE hznctl_monitor_reload_failed gauge",
        f"hznctl_monitor_reload_failed {int(monitor.reload_error is not None)}",
        "# HELP hznctl_monitor_notifications_total Notifications delivered.",
        "# TYPE hznctl_monitor_notifications_total counter",
        f"hznctl_monitor_notifications_total {monitor.notifications_sent}",
    ]
    if age is not None:
        lines += ["# HELP hznctl_monitor_last_round_age_seconds Seconds since the last "
                  "round completed.",
                  "# TYPE hznctl_monitor_last_round_age_seconds gauge",
                  f"hznctl_monitor_last_round_age_seconds {age:.3f}"]
    return ("\n".join(lines) + "\n").encode("utf-8")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], monitor: Monitor) -> None:
        self.monitor = monitor
        self.slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self.probes = threading.BoundedSemaphore(MAX_PROBES)
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = CLIENT_TIMEOUT
    protocol_version = "HTTP/1.0"
    server_version = "hznctl-health"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a request log is not the monitor's job, and a client's words stay out."""

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def _dispatch(self, *, head: bool) -> None:
        if not self.server.slots.acquire(blocking=False):
            self._send(503, TEXT, b"busy\n", head)
            return
        encoding = None
        try:
            if urlsplit(self.path).path == "/metrics":
                status, kind, body, encoding = self._metrics()
            else:
                status, kind, body = self._route()
        except Exception:  # a bug in a handler must not stop the monitor
            status, kind, body = 500, TEXT, b"internal error\n"
        finally:
            self.server.slots.release()
        self._send(status, kind, body, head, encoding)

    def _metrics(self) -> tuple[int, str, bytes, str | None]:
        """The round's text as rendered (and gzipped) once per round, then the monitor's
        own families; gzip members concatenate into one valid stream (RFC 1952)."""
        monitor = self.server.monitor
        snapshot = monitor.snapshot
        own = monitor_metrics(monitor)
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            body = (snapshot.metrics_gzip if snapshot else b"") + gzip.compress(own, mtime=0)
            return 200, PROMETHEUS, body, "gzip"
        return 200, PROMETHEUS, (snapshot.metrics if snapshot else b"") + own, None

    def _route(self) -> tuple[int, str, bytes]:
        parts = urlsplit(self.path)
        monitor = self.server.monitor
        snapshot = monitor.snapshot
        if parts.path == "/healthz":
            return _healthz(monitor)
        if parts.path in ("/", "/index.html"):
            if snapshot is None:
                return 503, TEXT, b"no round completed yet\n"
            return 200, "text/html; charset=utf-8", snapshot.html
        if parts.path == "/report.json":
            if snapshot is None:
                return 503, TEXT, b"no round completed yet\n"
            return 200, "application/json", snapshot.json
        if parts.path == "/probe":
            return self._probe(parse_qs(parts.query).get("target", []))
        return 404, TEXT, b"not found\n"

    def _probe(self, names: list[str]) -> tuple[int, str, bytes]:
        if len(names) != 1 or not names[0]:
            return 400, TEXT, b"give one target: /probe?target=<connection name>\n"
        target = self.server.monitor.target(names[0])
        if target is None:
            return 404, TEXT, b"no such connection in the inventory\n"
        if not self.server.probes.acquire(blocking=False):
            return 503, TEXT, b"too many probes at once\n"
        try:
            return 200, PROMETHEUS, self.server.monitor.probe_one(target)
        finally:
            self.server.probes.release()

    def _send(self, status: int, kind: str, body: bytes, head: bool,
              encoding: str | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            if encoding is not None:
                self.send_header("Content-Encoding", encoding)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if not head:
                self.wfile.write(body)
        except OSError:
            pass  # the client went away


def _healthz(monitor: Monitor) -> tuple[int, str, bytes]:
    snapshot = monitor.snapshot
    if snapshot is None:
        return 503, TEXT, b"starting: no round completed yet\n"
    age = time.monotonic() - snapshot.completed
    if age > monitor.stale_after():
        return 503, TEXT, f"stale: the last round completed {age:.0f} s ago\n".encode()
    return 200, TEXT, b"ok\n"


def serve(options: MonitorOptions, host: str, port: int,
          on_ready: Callable[[str], None] | None = None,
          stop: threading.Event | None = None) -> Monitor:
    """Load the inventory, serve and probe until SIGTERM/SIGINT (or ``stop``); returns the
    monitor when stopped. A bad inventory at start raises (HznctlError)."""
    monitor = Monitor(options)
    monitor.load()
    # The rounds' event loop holds the interpreter for long stretches at a thousand
    # connections; a short switch interval lets a scrape in between every few hundred µs.
    sys.setswitchinterval(0.0005)
    server = _Server((host, port), monitor)
    stop = stop or threading.Event()
    reload = threading.Event()
    previous = _install_signals(stop, reload)
    threads = [threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                name="hznctl-http", daemon=True),
               threading.Thread(target=monitor.run, args=(stop, reload), name="hznctl-rounds",
                                daemon=True)]
    for thread in threads:
        thread.start()
    bound_host, bound_port = server.server_address[:2]
    if on_ready is not None:
        on_ready(f"http://{_host(str(bound_host))}:{bound_port}/")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
        threads[1].join(timeout=(options.health.deadline or 60.0) + 5)
        _restore_signals(previous)
    return monitor


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


Handler = Callable[[int, FrameType | None], Any] | int | None


def _install_signals(stop: threading.Event, reload: threading.Event) -> dict[int, Handler]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, Handler] = {}

    def on_stop(_signo: int, _frame: FrameType | None) -> None:
        stop.set()

    def on_reload(_signo: int, _frame: FrameType | None) -> None:
        reload.set()

    for signo, handler in ((signal.SIGTERM, on_stop), (signal.SIGINT, on_stop),
                           (signal.SIGHUP, on_reload)):
        previous[signo] = signal.signal(signo, handler)
    return previous


def _restore_signals(previous: dict[int, Handler]) -> None:
    for signo, handler in previous.items():
        signal.signal(signo, handler)
