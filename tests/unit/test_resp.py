"""The bounded RESP client, fed replies directly: any value round-trips, any bytes give a
reply or a RespError (never another exception), and every cap holds."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hznctl.health.resp import (
    Limits,
    ProtocolError,
    ReplyError,
    ReplyTooLarge,
    RespConnection,
    RespError,
    _Stream,
    pack,
)


class _Transport:
    """The write side: what the client sends is kept, never sent anywhere."""

    def __init__(self) -> None:
        self.sent = b""

    def write(self, data: bytes) -> None:
        self.sent += data

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None

    def close(self) -> None:
        return None


DEFAULT = Limits()


def _replies(answer: bytes, count: int = 1, limits: Limits = DEFAULT) -> list[Any]:
    async def run() -> list[Any]:
        stream = _Stream()
        stream.connection_made(_Transport())
        stream.data_received(answer)
        stream.eof_received()
        connection = RespConnection(stream, limits)
        return await connection.execute_many([("PING",)] * count)

    return asyncio.run(run())


def _encode(value: Any) -> bytes:
    if isinstance(value, ReplyError):
        return b"-" + value.message.encode() + b"\r\n"
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, bytes):
        return b"$%d\r\n%s\r\n" % (len(value), value)
    return b"*%d\r\n" % len(value) + b"".join(_encode(v) for v in value)


VALUES = st.recursive(
    st.one_of(st.none(), st.integers(min_value=-2**63, max_value=2**63), st.binary(max_size=50),
              st.from_regex(r"[A-Z]{2,8} [a-z ]{0,20}", fullmatch=True).map(ReplyError)),
    lambda inner: st.lists(inner, max_size=5), max_leaves=20)


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, ReplyError):  # shown on one line, white space collapsed
        return isinstance(right, ReplyError) and " ".join(left.message.split()) == right.message
    if isinstance(left, list):
        return isinstance(right, list) and len(left) == len(right) and all(
            _same(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right and type(left) is type(right))


def test_a_flood_pauses_reading_until_the_reader_wants_more() -> None:
    """More bytes than the reader waits for stop the transport's reading: a server that
    floods a connection fills its socket buffer, not the runner's memory."""
    paused: list[str] = []

    class Watched(_Transport):
        def pause_reading(self) -> None:
            paused.append("pause")

        def resume_reading(self) -> None:
            paused.append("resume")

    async def run() -> bytes:
        stream = _Stream()
        stream.connection_made(Watched())
        stream.data_received(b"+")
        for _ in range(4):
            stream.data_received(b"x" * _Stream.CHUNK)
        assert paused == ["pause"] and len(stream.buffer) < 5 * _Stream.CHUNK
        stream.data_received(b"\r\n")
        return await RespConnection(stream, Limits(max_line=8 * _Stream.CHUNK)).execute("PING")

    assert asyncio.run(run()) == b"x" * (4 * _Stream.CHUNK)


@settings(deadline=None)
@given(st.lists(VALUES, min_size=1, max_size=4))
def test_any_reply_round_trips(values: list[Any]) -> None:
    replies = _replies(b"".join(_encode(v) for v in values), len(values))
    assert all(_same(v, r) for v, r in zip(values, replies, strict=True))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_a_reply_or_a_resp_error(answer: bytes) -> None:
    with contextlib.suppress(RespError, ConnectionResetError):
        _replies(answer, 2)


@settings(deadline=None)
@given(st.lists(VALUES, min_size=1, max_size=3), st.data())
def test_a_reply_cut_anywhere_is_a_resp_error(values: list[Any], data: st.DataObject) -> None:
    encoded = b"".join(_encode(v) for v in values)
    cut = data.draw(st.integers(min_value=1, max_value=len(encoded) - 1)) \
        if len(encoded) > 1 else 0
    if cut:
        with pytest.raises((RespError, ConnectionResetError)):
            _replies(encoded[:cut], len(values))


def test_the_caps() -> None:
    small = Limits(max_bulk=10, max_line=20, max_elements=3, max_depth=2, max_total=40)
    cases = {b"$11\r\n": "bulk string of 11", b"*4\r\n": "array of 4",
             b"%4\r\n": "map of 4", b"+" + b"x" * 30 + b"\r\n": "longer than 20",
             b"*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n": "deeper than 2",
             b"*3\r\n" + b"$9\r\nxxxxxxxxx\r\n" * 3: "more than 40 bytes"}
    for answer, message in cases.items():
        with pytest.raises(ReplyTooLarge, match=message):
            _replies(answer + b"\r\n" * 40, 3, small)


def test_resp3_and_malformed_replies() -> None:
    assert _replies(b"%1\r\n+a\r\n:1\r\n_\r\n,1.5\r\n#t\r\n(12\r\n=5\r\ntxt:x\r\n", 6) == [
        {b"a": 1}, None, 1.5, True, 12, b"txt:x"]
    for answer, message in {b"HTTP/1.1 200 OK\r\n": "not a RESP reply",
                            b"$3\r\nabcde\r\n": "does not end where its length says",
                            b":x\r\n": "is not a number", b"$-5\r\n": "negative",
                            b"#x\r\n": "neither t nor f",
                            b"%1\r\n*0\r\n:1\r\n": "map key that is an aggregate"}.items():
        with pytest.raises(ProtocolError, match=message):
            _replies(answer)


def test_an_error_reply_is_a_value_in_a_batch_and_raised_alone() -> None:
    (reply,) = _replies(b"-ERR no\r\n")
    assert isinstance(reply, ReplyError) and reply.code == "ERR"

    async def alone() -> None:
        stream = _Stream()
        stream.connection_made(_Transport())
        stream.data_received(b"-WRONGPASS invalid\r\n")
        await RespConnection(stream).execute("AUTH", "x")

    with pytest.raises(ReplyError, match="WRONGPASS invalid"):
        asyncio.run(alone())


def test_commands_are_packed_as_bulk_strings() -> None:
    assert pack(("SET", b"k\r\n", 5)) == b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$1\r\n5\r\n"
