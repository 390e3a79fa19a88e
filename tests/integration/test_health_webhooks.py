"""Webhooks that misbehave: a redirect is not followed, an endpoint that never answers or
answers a byte at a time costs the channel's timeout and no more."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.health_support import Conn, start_webhook, write_inventory
from tests.support import free_port, make_age_key

pytestmark = pytest.mark.integration


def _redirecting(target: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _Stalling:
    """Accepts, reads the request, then says nothing (``trickle=False``) or sends a
    response one byte every 0.2 s, forever."""

    def __init__(self, *, trickle: bool) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.trickle = trickle
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook/s3cret-token"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            line = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000
            for byte in line:
                if self.stop.wait(0.2):
                    return
                if self.trickle:
                    try:
                        conn.send(bytes([byte]))
                    except OSError:
                        return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def test_redirects_are_not_followed_and_slow_endpoints_cost_their_timeout(
        tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    runner = make_age_key(tmp_path / "runner.agekey")
    elsewhere = start_webhook()  # where the redirect points: must receive nothing
    redirect = _redirecting(elsewhere.url)
    silent, trickle = _Stalling(trickle=False), _Stalling(trickle=True)
    redirect_url = f"http://127.0.0.1:{redirect.server_address[1]}/hook/s3cret-token"
    channels = [{"name": "redirect", "type": "webhook", "url_plain": redirect_url},
                {"name": "silent", "type": "webhook", "url_plain": silent.url},
                {"name": "trickle", "type": "slack", "url_plain": trickle.url}]
    for channel in channels:
        channel |= {"retries": 0, "timeout": 1}
    inventory = write_inventory(tmp_path / "inventory", runner,
                                [Conn("redis-gone", free_port(), "pw-webhooks-3b1d")],
                                check_timeout=1, notifications=channels)
    try:
        started = time.monotonic()
        result = cli("health", str(inventory), "--out", str(tmp_path / "out"), "--history",
                     str(tmp_path / "h.jsonl"), "--identity", str(runner.path),
                     "--format", "json")
        elapsed = time.monotonic() - started
    finally:
        silent.close()
        trickle.close()
        redirect.shutdown()
        elsewhere.server.shutdown()
    report = json.loads(result.output)
    sent = {n["channel"]: n for n in report["notifications"]}
    assert sent["redirect"]["error"] == "HTTP 302: a redirect, not followed"
    assert elsewhere.received == []
    for name in ("silent", "trickle"):
        assert sent[name]["error"] == "not delivered: no answer within 1 s", sent[name]
        assert not sent[name]["delivered"] and sent[name]["attempts"] == 1
    # The probe (1 s) and the notifications (1 s each, in parallel), plus start-up.
    assert elapsed < 3.5, f"the run took {elapsed:.2f} s"
    assert "s3cret-token" not in result.output


def test_the_proxy_of_the_environment_is_used_as_urllib_would(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """http_proxy: the request goes to the proxy with the absolute URL and the proxy's
    credentials; no_proxy: straight to the endpoint."""
    from hznctl.health.notify import _post

    seen: list[tuple[str, str | None]] = []

    class Proxy(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append((self.path, self.headers.get("Proxy-Authorization")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    endpoint = start_webhook()
    try:
        monkeypatch.setenv("http_proxy", f"http://u:p%40ss@127.0.0.1:{proxy.server_address[1]}")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        assert _post(endpoint.url, b"{}", 2) == ("", False)
        assert seen == [(endpoint.url, "Basic dTpwQHNz")] and endpoint.received == []
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        assert _post(endpoint.url, b"{}", 2) == ("", False)
        assert len(seen) == 1 and len(endpoint.received) == 1
    finally:
        proxy.shutdown()
        endpoint.server.shutdown()
