"""A hostile RESP server on loopback: each connection's username (the first AUTH) picks how
it misbehaves. Written for the tests; it answers what a broken or malicious server would.

Redis 5 answers a command it does not know with the arguments it was given
(``server.c`` processCommand: "unknown command `%s`, with args beginning with: %s", each
argument quoted up to 128 characters in all), which is how ``HELLO 3 AUTH user <password>``
put the password into a reply; ``echo`` does the same for every command.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import socketserver
import threading
import time
from typing import Any
from urllib.parse import quote

SMALL_INFO = (b"# Server\r\nredis_version:7.2.0\r\nrole:master\r\nconnected_clients:1\r\n"
              b"used_memory:1000\r\nmaxmemory:0\r\n")


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _read_command(rfile: Any) -> list[bytes] | None:
    header = rfile.readline()
    if not header.startswith(b"*"):
        return None
    args = []
    for _ in range(int(header[1:])):
        size = int(rfile.readline()[1:])
        args.append(rfile.read(size + 2)[:-2])
    return args


class _Handler(socketserver.StreamRequestHandler):
    server: HostileServer

    def handle(self) -> None:
        first = _read_command(self.rfile)
        if first is None:
            return
        mode = first[1].decode() if len(first) == 3 else "echo"
        self.server.seen.append(mode)
        with contextlib.suppress(OSError, ValueError):  # the probe hung up: done
            getattr(self, "mode_" + mode.replace("-", "_"))(first)

    def send(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def commands(self) -> Any:
        while (command := _read_command(self.rfile)) is not None:
            yield command

    # --- modes ---------------------------------------------------------------------------

    def mode_echo(self, first: list[bytes]) -> None:
        for command in itertools.chain([first], self.commands()):
            args = b" ".join(b"'%s'" % a for a in command[1:])
            self.send(b"-ERR unknown command `%s`, with args beginning with: %s \r\n"
                      % (command[0], args))

    def mode_echo_encoded(self, first: list[bytes]) -> None:
        password = first[2].decode()
        forms = [password.encode().hex(), quote(password, safe=""), json.dumps(password),
                 password[:12] + "'", password.encode().hex().upper()]
        self.send(b"-WRONGPASS " + " / ".join(forms).encode() + b"\r\n")

    def _ok_then(self, answer: Any) -> None:
        self.send(b"+OK\r\n")
        for command in self.commands():
            answer(command)

    def mode_giant(self, first: list[bytes]) -> None:
        def answer(command: list[bytes]) -> None:
            if command[0] == b"INFO":
                self.send(b"$838860800\r\n")
                chunk = b"x" * 65536
                while True:
                    self.send(chunk)
        self._ok_then(answer)

    def mode_endless(self, first: list[bytes]) -> None:
        def answer(command: list[bytes]) -> None:
            if command[0] == b"INFO":
                self.send(b"*4096\r\n")
                chunk = _bulk(b"y" * 1_000_000)
                while True:
                    self.send(chunk)
        self._ok_then(answer)

    def mode_trickle(self, first: list[bytes]) -> None:
        for byte in b"+OK\r\n" + _bulk(SMALL_INFO * 20):
            self.send(bytes([byte]))
            time.sleep(0.02)

    def mode_garbage(self, first: list[bytes]) -> None:
        self.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    def mode_long_line(self, first: list[bytes]) -> None:
        self.send(b"+" + b"z" * 200_000 + b"\r\n")

    def mode_deep(self, first: list[bytes]) -> None:
        def answer(command: list[bytes]) -> None:
            self.send(b"*1\r\n" * 100 + b":1\r\n" if command[0] == b"INFO" else b"+OK\r\n")
        self._ok_then(answer)

    def mode_bad_bulk(self, first: list[bytes]) -> None:
        self.send(b"+OK\r\n")
        self.commands().__next__()
        self.send(b"$5\r\nabcdefghij\r\n")

    def mode_wrong_types(self, first: list[bytes]) -> None:
        def answer(command: list[bytes]) -> None:
            self.send(b":42\r\n" if command[0] == b"INFO" else b"+OK\r\n")
        self._ok_then(answer)

    def mode_wrong_lengths(self, first: list[bytes]) -> None:
        def answer(command: list[bytes]) -> None:
            name = command[0]
            if name == b"INFO":
                self.send(_bulk(SMALL_INFO))
            elif name == b"CONFIG":
                self.send(b"*2\r\n" + _bulk(b"maxclients") + _bulk(b"100"))
            elif name == b"SELECT":
                self.send(b"+OK\r\n")
            elif name == b"PING":
                self.send(b"+PANG\r\n")
            else:  # every queue command (LLEN, ZCARD, LINDEX, …) gets a string
                self.send(_bulk(b"seven"))
        self._ok_then(answer)

    def mode_redis5(self, first: list[bytes]) -> None:
        """Not hostile, old: Redis 5 has no users. Its AUTH takes the password alone
        (``src/server.c`` of 5.0: ``{"auth",authCommand,2,"sltF",…}``, and
        ``processCommand`` answers "wrong number of arguments for 'auth' command" to any
        other arity), and until AUTH has succeeded every command gets ``-NOAUTH``."""
        password, authenticated = first[2], False
        self.send(b"-ERR wrong number of arguments for 'auth' command\r\n")
        for command in self.commands():
            name = command[0].upper()
            if name == b"AUTH":
                if len(command) != 2:
                    self.send(b"-ERR wrong number of arguments for 'auth' command\r\n")
                elif command[1] == password:
                    authenticated = True
                    self.send(b"+OK\r\n")
                else:
                    self.send(b"-ERR invalid password\r\n")
            elif not authenticated:
                self.send(b"-NOAUTH Authentication required.\r\n")
            elif name == b"INFO":
                self.send(_bulk(SMALL_INFO))
            elif name == b"CONFIG":
                self.send(b"*2\r\n" + _bulk(b"maxclients") + _bulk(b"100"))
            elif name == b"PING":
                self.send(b"+PONG\r\n")
            elif name == b"SELECT":
                self.send(b"+OK\r\n")
            else:
                self.send(b":0\r\n")


class HostileServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # every probe of a run connects at once

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def close(self) -> None:
        self.shutdown()
        self.server_close()


def raw_exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` and read what comes back within a second (for self-checks)."""
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(data)
        return sock.recv(65536)
