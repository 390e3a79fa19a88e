"""A small RESP client whose every reply is bounded: the only way health talks to Redis.

A Redis server (or whoever answers on its address) is not trusted: its replies are read
with a cap on every line, bulk string and aggregate, on nesting, and on the bytes of the
whole connection, so an 800 MB INFO or an endless stream costs at most the caps and the
caller's deadline, never memory or time beyond them. Commands go out pipelined (one write
for a batch) and replies are parsed in the same task, so one ``asyncio.timeout`` around
a batch covers sending, reading and parsing, with no timer per command.

Replies are Python values: ``bytes`` (bulk and simple strings, verbatim strings),
``int``, ``float``, ``bool``, ``None``, ``list`` (arrays, sets, pushes) and ``dict``
(RESP3 maps). An error reply is a ``ReplyError`` value (its text redacted and cut short):
``execute`` raises it, ``execute_many`` returns it in place, so the stream stays in step.
A reply that breaks the protocol or a cap raises ``ProtocolError`` or ``ReplyTooLarge``
(both ``RespError``); the connection is then unusable and should be closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hznctl.redact import redact

Arg = str | bytes | int | float
Reply = Any


@dataclass(frozen=True)
class Limits:
    """Caps on what one connection may send us."""

    max_bulk: int = 1024 * 1024  # INFO is ~5 KiB; 1 MiB leaves room for any real server
    max_line: int = 64 * 1024  # a simple string, error, number or length line
    max_elements: int = 4096  # of one array, set, push or map
    max_depth: int = 8
    max_total: int = 4 * 1024 * 1024  # every byte read on the connection


class RespError(Exception):
    """The server's reply broke the protocol or a cap: the connection is unusable."""


class ProtocolError(RespError):
    """Bytes that are not RESP, or not the reply a command has."""


class ReplyTooLarge(RespError):
    """A reply over one of the ``Limits``."""


class ReplyError(Exception):
    """An error reply (``-ERR …``): data from the server, redacted and at most 300
    characters; the connection stays usable."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        """The error's first word (``ERR``, ``NOAUTH``, ``WRONGPASS``)."""
        return self.message.split(" ", 1)[0]


MAX_ERROR_TEXT = 300


def pack(args: Sequence[Arg]) -> bytes:
    """One command in RESP (an array of bulk strings)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode("utf-8")
        parts += [b"$%d\r\n" % len(data), data, b"\r\n"]
    return b"".join(parts)


class _Stream(asyncio.Protocol):
    """The bytes a connection has received, and a way to wait for more.

    A bare protocol rather than asyncio's streams: a probe's reading is a few short
    replies, and the streams' machinery per read cost more than the reading. The buffer
    never holds much more than what the reader is waiting for (``want``): past that the
    transport stops reading until the reader has caught up, so a server that floods us
    fills a socket buffer, not our memory.
    """

    CHUNK = 64 * 1024

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: Any = None  # uvloop's transports are no asyncio.Transport
        self.waiter: asyncio.Future[None] | None = None
        self.closed: asyncio.Future[None] | None = None
        self.eof = False
        self.paused = False
        self.want = self.CHUNK

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > self.want + self.CHUNK and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self._wake()
        if self.closed is not None and not self.closed.done():
            self.closed.set_result(None)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def more(self, want: int) -> bool:
        """Wait for more bytes, up to ``want`` of them in the buffer; False at the end."""
        if self.eof:
            return False
        self.want = max(want, self.CHUNK)
        if self.paused:
            self.paused = False
            self.transport.resume_reading()
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None
        return True


class RespConnection:
    """One connection to a Redis server: ``execute``, ``execute_many``, ``close``."""

    def __init__(self, stream: _Stream, limits: Limits = Limits()) -> None:
        self._stream = stream
        self._at = 0  # where the next reply starts in the stream's buffer
        self.limits = limits
        self.bytes_read = 0

    @classmethod
    async def open(cls, host: str, port: int, *, tls: ssl.SSLContext | None = None,
                   server_hostname: str | None = None,
                   limits: Limits = Limits()) -> RespConnection:
        """Connect (and TLS handshake); the caller bounds the time."""
        loop = asyncio.get_running_loop()
        _, stream = await loop.create_connection(
            _Stream, host, port, ssl=tls, server_hostname=server_hostname if tls else None)
        return cls(stream, limits)

    async def execute(self, *args: Arg) -> Reply:
        """One command's reply; an error reply is raised as ``ReplyError``."""
        (reply,) = await self.execute_many([args])
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    async def execute_many(self, commands: Iterable[Sequence[Arg]]) -> list[Reply]:
        """Send every command in one write, then read one reply each, in order; an error
        reply is returned as a ``ReplyError`` in its place."""
        return await self.read_replies(self.send(commands))

    def send(self, commands: Iterable[Sequence[Arg]]) -> int:
        """Send every command in one write; how many replies are now owed. Read them
        with ``read_replies``, in order, before sending what depends on them."""
        batch = [pack(c) for c in commands]
        self._stream.transport.write(b"".join(batch))
        return len(batch)

    async def read_replies(self, count: int) -> list[Reply]:
        """The next ``count`` replies, in order; an error reply is a ``ReplyError`` in its
        place."""
        replies = [await self._read(0) for _ in range(count)]
        del self._stream.buffer[:self._at]  # what is read is gone: the buffer holds the rest
        self._at = 0
        return replies

    async def close(self) -> None:
        """Close at once; never raises."""
        stream = self._stream
        with contextlib.suppress(Exception):
            stream.transport.close()
        if stream.closed is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(stream.closed), 0.1)

    # --- reading -------------------------------------------------------------------------

    def _count(self, size: int) -> None:
        self.bytes_read += size
        if self.bytes_read > self.limits.max_total:
            raise ReplyTooLarge(f"the server sent more than {self.limits.max_total} bytes "
                                "on one connection")

    async def _line(self) -> bytes:
        stream, limit = self._stream, self.limits.max_line + 2
        buffer, at = stream.buffer, self._at
        end = buffer.find(b"\r\n", at)
        while end < 0 or end + 2 - at > limit:
            if end >= 0 or len(buffer) - at > limit:
                raise ReplyTooLarge(f"a reply line is longer than {self.limits.max_line} "
                                    "bytes")
            searched = max(at, len(buffer) - 1)  # a \r may end the buffer, its \n to come
            if not await stream.more(len(buffer) - at + 2):
                if len(buffer) == at:
                    raise ConnectionResetError("the server closed the connection")
                raise ProtocolError("the server closed the connection in the middle of a "
                                    "reply")
            end = buffer.find(b"\r\n", searched)
        line = bytes(buffer[at:end])
        self._at = end + 2
        self._count(len(line) + 2)
        return line

    async def _exactly(self, size: int) -> bytes:
        self._count(size + 2)
        stream, at = self._stream, self._at
        buffer = stream.buffer
        while len(buffer) - at < size + 2:
            if not await stream.more(size + 2):
                raise ProtocolError("the server closed the connection in the middle of a "
                                    "reply")
        if buffer[at + size:at + size + 2] != b"\r\n":
            raise ProtocolError("a bulk string does not end where its length says")
        self._at = at + size + 2
        return bytes(buffer[at:at + size])

    def _length(self, text: bytes, kind: str, cap: int) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ProtocolError(f"{kind} length {_show(text)} is not a number") from None
        if value > cap:
            raise ReplyTooLarge(f"a {kind} of {value} is more than the limit of {cap}")
        if value < -1:
            raise ProtocolError(f"{kind} length {value} is negative")
        return value

    async def _read(self, depth: int) -> Reply:
        if depth > self.limits.max_depth:
            raise ReplyTooLarge(f"a reply nested deeper than {self.limits.max_depth} levels")
        line = await self._line()
        if not line:
            raise ProtocolError("an empty reply line")
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"("):
            return rest if kind == b"+" else _number(rest, int)
        if kind in (b"-", b"!"):
            text = rest if kind == b"-" else await self._bulk(rest, "bulk error")
            return ReplyError(_error_text(text))
        if kind == b":":
            return _number(rest, int)
        if kind in (b"$", b"="):
            return await self._bulk(rest, "bulk string")
        if kind in (b"*", b"~", b">"):
            count = self._length(rest, "array", self.limits.max_elements)
            return None if count < 0 else [await self._read(depth + 1) for _ in range(count)]
        if kind == b"%":
            count = self._length(rest, "map", self.limits.max_elements)
            pairs = [(await self._read(depth + 1), await self._read(depth + 1))
                     for _ in range(count)]
            return {_key(k): v for k, v in pairs}
        if kind == b"_":
            return None
        if kind == b",":
            return _number(rest, float)
        if kind == b"#":
            if rest not in (b"t", b"f"):
                raise ProtocolError(f"boolean {_show(rest)} is neither t nor f")
            return rest == b"t"
        raise ProtocolError(f"not a RESP reply: {_show(line)}")

    async def _bulk(self, length: bytes, kind: str) -> bytes | None:
        size = self._length(length, kind, self.limits.max_bulk)
        return None if size < 0 else await self._exactly(size)


def _number(text: bytes, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(text)
    except ValueError:
        raise ProtocolError(f"{_show(text)} is not a number") from None


def _key(value: Any) -> Any:
    if isinstance(value, list | dict):
        raise ProtocolError("a map key that is an aggregate")
    return value


def _error_text(raw: bytes | None) -> str:
    text = " ".join(redact((raw or b"").decode("utf-8", "replace")).split())
    return text[:MAX_ERROR_TEXT] or "(an empty error)"


def _show(raw: bytes) -> str:
    """A few bytes of a bad reply, safe to show: redacted, cut short."""
    return redact(repr(raw[:40]))


def describe(reply: Any) -> str:
    """What kind of reply ``reply`` is, for a message (never its content)."""
    if isinstance(reply, ReplyError):
        return f"an error ({reply.message})"
    kinds = {bytes: "a string", int: "an integer", float: "a double", bool: "a boolean",
             list: "an array", dict: "a map", type(None): "nil"}
    return kinds.get(type(reply), type(reply).__name__)
