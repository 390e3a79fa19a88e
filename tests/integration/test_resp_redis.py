"""The bounded RESP client against a real redis-server: AUTH, pipelines, error replies in
place, RESP3 replies (HELLO 3 answers a map), and a reply over a cap on a real server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hznctl.health.probe import open_connection
from hznctl.health.resp import Limits, ReplyError, ReplyTooLarge, RespConnection
from hznctl.health.run import load_for_health, runner_credentials
from hznctl.health.targets import build_targets, select_connections, with_credentials
from tests.integration.health_support import Conn, write_inventory
from tests.support import make_age_key

pytestmark = pytest.mark.integration
PASSWORD = "pw-resp-8c4d"


def test_the_client_speaks_to_a_real_redis(tmp_path: Path, redis_factory) -> None:  # type: ignore[no-untyped-def]
    server = redis_factory(password=PASSWORD)
    runner = make_age_key(tmp_path / "runner.agekey")
    root = write_inventory(tmp_path / "inventory", runner, [Conn("real", server.port, PASSWORD)])
    inventory = load_for_health(root)
    (target,) = with_credentials(build_targets(inventory, select_connections(inventory)),
                                 runner_credentials(runner.path))

    async def talk() -> None:
        connection = await open_connection(target, 5)
        try:
            assert await connection.execute("SET", "k", b"v\r\nx") == b"OK"
            replies = await connection.execute_many(
                [("GET", "k"), ("NOSUCHCOMMAND", "a"), ("RPUSH", "q", 1, 2, 3), ("LLEN", "q"),
                 ("LRANGE", "q", 0, -1), ("GET", "missing")])
            assert replies[0] == b"v\r\nx" and isinstance(replies[1], ReplyError)
            assert replies[1].code == "ERR" and replies[2:] == [3, 3, [b"1", b"2", b"3"], None]
            hello = await connection.execute("HELLO", 3)  # the server now speaks RESP3
            assert isinstance(hello, dict) and hello[b"proto"] == 3
            assert await connection.execute("HGETALL", "nothing") == {}
            assert await connection.execute("PING") == b"PONG"
        finally:
            await connection.close()

    asyncio.run(talk())


def test_a_real_reply_over_a_cap_is_refused(redis_factory) -> None:  # type: ignore[no-untyped-def]
    server = redis_factory()

    async def talk() -> None:
        connection = await RespConnection.open("127.0.0.1", server.port,
                                               limits=Limits(max_bulk=1000))
        try:
            await connection.execute("SET", "big", "x" * 1001)
            with pytest.raises(ReplyTooLarge, match="bulk string of 1001"):
                await connection.execute("GET", "big")
        finally:
            await connection.close()

    asyncio.run(talk())
