"""deploy's XML-RPC wire (hznctl.deploy.xmlrpc) against a hostile HTTP server standing for
whoever answers at supervisord's address: framings supervisord uses and others (medusa
answers with a Content-Length on a kept-alive HTTP/1.1 connection, supervisor/xmlrpc.py
``continue_request``; chunked and close-delimited bodies are HTTP too), replies that are
too large, cut off, not HTTP or never come, a kept-alive connection closed under us, and a
server that echoes the password it was sent."""

from __future__ import annotations

import base64
import socket
import threading
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hznctl.deploy import xmlrpc as wire
from hznctl.deploy.supervisor import Address, Supervisor, SupervisorError

Handler = Callable[[socket.socket, bytes, int], bool]  # (conn, request, n) -> keep open


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


class Server:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            while True:
                request = _read_request(conn)
                if not request:
                    break
                self.requests.append(request)
                if not self.handler(conn, request, len(self.requests)):
                    break

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], Server]]:
    servers: list[Server] = []

    def start(handler: Handler) -> Server:
        servers.append(Server(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _body(value: object) -> bytes:
    return xmlrpc.client.dumps((value,), methodresponse=True).encode()


def _length(value: object, extra: bytes = b"") -> bytes:
    body = _body(value)
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n" + extra
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def _client(server: Server, timeout: float = 5.0, **kw: str) -> Supervisor:
    return Supervisor(Address(server.url, timeout=timeout, **kw))


def test_kept_alive_replies_with_a_length_share_one_connection(serve) -> None:
    server = serve(lambda conn, req, n: conn.sendall(_length({"statename": f"S{n}"})) or True)
    client = _client(server)
    assert [client.state() for _ in range(3)] == ["S1", "S2", "S3"]
    assert server.connections == 1
    assert all(r.startswith(b"POST /RPC2 HTTP/1.1\r\n") for r in server.requests)


def test_a_chunked_reply_is_read(serve) -> None:
    def chunked(conn: socket.socket, req: bytes, n: int) -> bool:
        body = _body({"statename": "RUNNING"})
        chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7])
                          for i in range(0, len(body), 7))
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
                     + b"0\r\nX-Trailer: t\r\n\r\n")
        return True
    client = _client(serve(chunked))
    assert client.state() == "RUNNING" and client.state() == "RUNNING"


def test_a_reply_delimited_by_closing_is_read_and_the_next_call_reconnects(serve) -> None:
    def closing(conn: socket.socket, req: bytes, n: int) -> bool:
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + _body({"statename": f"S{n}"}))
        return False
    server = serve(closing)
    client = _client(server)
    assert (client.state(), client.state()) == ("S1", "S2")
    assert server.connections == 2


def test_a_kept_alive_connection_closed_before_the_request_is_retried_once(serve) -> None:
    """The server closes a kept-alive connection (idle timeout): the request had not been
    read, so it is sent again on a new connection — once."""
    def first_then_close(conn: socket.socket, req: bytes, n: int) -> bool:
        conn.sendall(_length({"statename": f"S{n}"}))
        return n != 1  # drop the connection after the first reply, unannounced
    server = serve(first_then_close)
    client = _client(server)
    assert client.state() == "S1"
    assert client.state() == "S2"
    assert server.connections == 2


def test_a_request_the_server_read_is_never_sent_twice(serve) -> None:
    """A fresh connection closed after the request arrived: the call fails, and the
    server saw it once (an addProcessGroup must not be repeated behind the caller)."""
    server = serve(lambda conn, req, n: False)
    with pytest.raises(SupervisorError, match="cannot reach supervisord"):
        _client(server).add_group("g")
    assert len(server.requests) == 1


@pytest.mark.parametrize("reply", [
    b"SSH-2.0-OpenSSH_9.6\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 200 + b"\r\n",
    b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n<a/>x",
    b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n<a></a>\r\n",
], ids=["not-http", "cut-off", "huge", "negative", "bad-chunk", "header-flood",
        "long-header", "not-xml", "not-xmlrpc"])
def test_a_reply_that_is_not_xmlrpc_over_http_is_a_clear_error(serve, reply) -> None:
    def once(conn: socket.socket, req: bytes, n: int) -> bool:
        conn.sendall(reply)
        conn.shutdown(socket.SHUT_WR)
        return False
    server = serve(once)
    with pytest.raises(SupervisorError) as caught:
        _client(server).state()
    message = str(caught.value)
    assert server.url in message
    assert not any(part in message for part in ("SSH", "abc", "<a", "X-A", "aaaa"))


def test_a_reply_larger_than_the_limit_is_refused_as_it_arrives(serve, monkeypatch) -> None:
    monkeypatch.setattr(wire, "MAX_REPLY", 1000)
    server = serve(lambda conn, req, n: conn.sendall(_length(["x" * 2000])) or True)
    with pytest.raises(SupervisorError, match="larger than hznctl reads"):
        _client(server).processes()


def test_a_server_that_never_answers_fails_within_the_timeout(serve) -> None:
    held = threading.Event()
    server = serve(lambda conn, req, n: held.wait(10) and False)
    began = time.monotonic()
    with pytest.raises(SupervisorError, match="cannot reach supervisord"):
        _client(server, timeout=0.5).state()
    held.set()
    assert time.monotonic() - began < 5


def test_a_password_the_server_echoes_is_never_shown(serve, cli, tmp_path: Path) -> None:
    """The server has the password (basic auth sends it): it puts it in a fault, in the
    HTTP reason, base64 and plain; hznctl's output shows neither."""
    password = "hunter2-Canary-0xC0FFEE"
    seen: list[bytes] = []

    def echo(conn: socket.socket, req: bytes, n: int) -> bool:
        auth = next(line for line in req.split(b"\r\n") if line.startswith(b"Authorization:"))
        seen.append(auth)
        plain = base64.b64decode(auth.split()[-1]).decode()
        if n % 2:
            body = xmlrpc.client.dumps(xmlrpc.client.Fault(2, f"bad {plain} {auth.decode()}"),
                                       methodresponse=True).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        else:
            conn.sendall(f"HTTP/1.1 401 {plain}\r\nContent-Length: 0\r\n\r\n".encode())
        return True
    server = serve(echo)
    secret = tmp_path / "password"
    secret.write_text(password + "\n")
    state = tmp_path / "state"
    state.mkdir()
    outputs = []
    for _ in range(2):
        result = cli("status", "--supervisor-url", server.url, "--username", "u",
                     "--password-file", str(secret), "--state-dir", str(state),
                     "--include-dir", str(tmp_path))
        assert result.exit_code == 1
        outputs.append(result.output)
    assert seen, "the server was never asked"
    assert "answered HTTP 401" in "".join(outputs) and "refused" in "".join(outputs)
    encoded = base64.b64encode(f"u:{password}".encode()).decode()
    for output in outputs:
        assert password not in output and encoded not in output
