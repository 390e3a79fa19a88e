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


class RespConnection:
    """One connection to a Redis server: ``execute``, ``execute_many``, ``close``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 limits: Limits = Limits()) -> None:
        self._reader = reader
        self._writer = writer
        self.limits = limits
        self.bytes_read = 0

    @classmethod
    async def open(cls, host: str, port: int, *, tls: ssl.SSLContext | None = None,
                   server_hostname: str | None = None,
                   limits: Limits = Limits()) -> RespConnection:
        """Connect (and TLS handshake); the caller bounds the time."""
        reader, writer = await asyncio.open_connection(
            host, port, ssl=tls, server_hostname=server_hostname if tls else None,
            limit=limits.max_line + 2)
        return cls(reader, writer, limits)

    async def execute(self, *args: Arg) -> Reply:
        """One command's reply; an error reply is raised as ``ReplyError``."""
        (reply,) = await self.execute_many([args])
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    async def execute_many(self, commands: Iterable[Sequence[Arg]]) -> list[Reply]:
        """Send every command in one write, then read one reply each, in order; an error
        reply is returned as a ``ReplyError`` in its place."""
        batch = list(commands)
        self._writer.write(b"".join(pack(c) for c in batch))
        await self._writer.drain()
        return [await self._read(0) for _ in batch]

    async def close(self) -> None:
        """Close at once; never raises."""
        with contextlib.suppress(Exception):
            self._writer.close()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(self._writer.wait_closed(), 0.1)

    # --- reading -------------------------------------------------------------------------

    def _count(self, size: int) -> None:
        self.bytes_read += size
        if self.bytes_read > self.limits.max_total:
            raise ReplyTooLarge(f"the server sent more than {self.limits.max_total} bytes "
                                "on one connection")

    async def _line(self) -> bytes:
        try:
            line = await self._reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError:
            raise ReplyTooLarge(f"a reply line is longer than {self.limits.max_line} "
                                "bytes") from None
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise ConnectionResetError("the server closed the connection") from None
            raise ProtocolError("the server closed the connection in the middle of a "
                                "reply") from None
        self._count(len(line))
        return line[:-2]

    async def _exactly(self, size: int) -> bytes:
        self._count(size + 2)
        try:
            data = await self._reader.readexactly(size + 2)
        except asyncio.IncompleteReadError:
            raise ProtocolError("the server closed the connection in the middle of a "
                                "reply") from None
        if data[-2:] != b"\r\n":
            raise ProtocolError("a bulk string does not end where its length says")
        return data[:-2]

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
