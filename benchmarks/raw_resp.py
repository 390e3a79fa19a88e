"""The floor of a health check: the least a client can do to ask every Redis how it is.

Run as a process (``python -m benchmarks.raw_resp TARGETS.json CONCURRENCY``): for each
target, connect, AUTH, PING, INFO and close, with at most CONCURRENCY connections at
once, on uvloop, through a bare ``asyncio.Protocol`` that only counts reply bytes — no
parser, no limits, no timeouts, no decryption (the passwords are in the file), no report.
``hznctl health`` does all of that too, and more (one SOPS file decrypted per connection,
CONFIG GET, SELECT, the queue figures, three PING samples, five reports), so this is an
honest floor: nothing it does can be skipped by a real check.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import uvloop


class _Client(asyncio.Protocol):
    """Sends one command at a time; a reply is complete when its terminator arrives."""

    def __init__(self, done: asyncio.Future[None], commands: list[bytes]) -> None:
        self.done = done
        self.commands = commands
        self.buffer = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:  # uvloop's, no asyncio.Transport
        self.transport = transport
        transport.write(self.commands[0])

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not _complete(self.buffer):
            return
        self.buffer = b""
        self.commands.pop(0)
        if self.commands:
            self.transport.write(self.commands[0])
        else:
            self.transport.close()
            self.done.set_result(None)


def _complete(buffer: bytes) -> bool:
    """A simple reply (+OK, +PONG) or one bulk string (INFO) has fully arrived."""
    if buffer[:1] != b"$":
        return buffer.endswith(b"\r\n")
    head, _, rest = buffer.partition(b"\r\n")
    return len(rest) >= int(head[1:]) + 2


def _command(*words: str) -> bytes:
    parts = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        parts += [b"$%d\r\n" % len(data), data, b"\r\n"]
    return b"".join(parts)


async def _check(loop: asyncio.AbstractEventLoop, slots: asyncio.Semaphore, port: int,
                 password: str) -> None:
    async with slots:
        done: asyncio.Future[None] = loop.create_future()
        commands = [_command("AUTH", password), _command("PING"), _command("INFO")]
        await loop.create_connection(lambda: _Client(done, commands), "127.0.0.1", port)
        await done


async def _main(targets: list[tuple[int, str]], concurrency: int) -> None:
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(concurrency)
    await asyncio.gather(*(_check(loop, slots, port, pw) for port, pw in targets))


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as handle:
        listed = [(int(port), str(password)) for port, password in json.load(handle)]
    uvloop.run(_main(listed, int(sys.argv[2])))
