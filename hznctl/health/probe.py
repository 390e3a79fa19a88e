"""Probe one Redis connection: connect, AUTH, PING samples, INFO, keyspace, queue depths.

The client is set up for a health probe, not for an application (redis-py 8 defaults cost
seconds against a dead server):

* no retries (``Retry(NoBackoff(), 0)``): a retry hides the failure we are looking for, and
  with the default backoff a 1 s socket timeout became 15 s against a silent server;
* no driver info (``driver_info=None``): no ``CLIENT SETINFO`` round trips on connect;
* connect and read timeouts from the connection's options, never above the check's budget;
* a hard ``asyncio.timeout`` around the whole check, so a server that accepts and then
  says nothing (SIGSTOP, a black hole) costs at most the check timeout.

One TCP connection per probe; AUTH runs in our own connect hook so that the
connect and the handshake are timed apart; INFO, CONFIG GET and the queue commands go in one
pipelined round trip, the queue commands that need their replies (``queues``) in at most one
more.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    ConnectionError,
    RedisError,
    ResponseError,
)
from redis.exceptions import TimeoutError as RedisTimeoutError

from hznctl.health.model import Finding, QueueDepth, ServerInfo, Status, Timings
from hznctl.health.queues import QueueInspection, QueueStats
from hznctl.health.targets import ProbeTarget

PING_SAMPLES = 3


class _NoRetry(Retry):
    """No retries at all; immutable, so every connection may share it (redis-py deep-copies
    its retry policy per connection, a measurable cost at a thousand connections)."""

    def __init__(self) -> None:
        super().__init__(NoBackoff(), 0)

    def __deepcopy__(self, memo: dict[int, Any]) -> _NoRetry:
        return self


NO_RETRY = _NoRetry()


@dataclass
class ProbeOutcome:
    timings: Timings
    server: ServerInfo | None = None
    queues: list[QueueDepth] = field(default_factory=list)
    failure: Finding | None = None  # down or error: the probe could not finish


@dataclass
class _Marks:
    """Monotonic time stamps of the steps, filled in as the probe goes."""

    start: float = field(default_factory=time.perf_counter)
    connected: float | None = None
    authenticated: float | None = None
    step: str = "connect"
    samples: list[float] = field(default_factory=list)

    def timings(self) -> Timings:
        connect = _ms(self.start, self.connected)
        auth = _ms(self.connected, self.authenticated)
        samples = [round(s, 3) for s in self.samples]
        return Timings(
            connect_ms=connect, auth_ms=auth, latency_samples_ms=samples,
            latency_p50_ms=round(statistics.median(samples), 3) if samples else None,
            latency_max_ms=max(samples) if samples else None)


def _ms(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round((end - start) * 1000, 3)


def make_connection(target: ProbeTarget, budget: float, marks: _Marks) -> Connection:
    """A redis-py asyncio connection configured for probing (see the module docstring).

    A bare connection rather than a ``Redis`` client: a client builds its table of ~170
    response callbacks and deep-copies its retry policy, which cost more than the probe
    itself at a thousand connections; the probe reads the few replies it needs itself.
    """
    connection = target.connection
    options = connection.options

    async def handshake(conn: AbstractConnection) -> None:
        marks.connected = time.perf_counter()
        marks.step = "auth"
        await conn.on_connect()  # AUTH, when there is a password
        marks.authenticated = time.perf_counter()

    settings: dict[str, Any] = {
        "host": connection.host.strip("[]"), "port": connection.port,
        # SELECT goes into the INFO pipeline (one round trip less), so the hook only AUTHs.
        "db": 0, "username": connection.username,
        "password": target.password,
        "socket_connect_timeout": min(options.connect_timeout, budget),
        "socket_timeout": min(options.read_timeout, budget),
        "retry": NO_RETRY, "retry_on_error": [], "driver_info": None,
        "redis_connect_func": handshake,
    }
    tls = connection.tls
    if tls.enabled:
        return _TlsConnection(
            **settings, server_name=tls.server_name,
            ssl_cert_reqs="required" if tls.verify else "none",
            ssl_check_hostname=tls.verify, ssl_ca_certs=tls.ca_file)
    return Connection(**settings)


class _TlsConnection(SSLConnection):
    """TLS that verifies the certificate against ``server_name`` (and sends it as SNI)
    instead of the address connected to: redis-py has no option for it, but passes its
    connection arguments to ``asyncio.open_connection``, which takes ``server_hostname``."""

    def __init__(self, *, server_name: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.server_name = server_name

    def _connection_arguments(self) -> Mapping[str, Any]:
        arguments = dict(super()._connection_arguments())
        if self.server_name is not None:
            arguments["server_hostname"] = self.server_name
        return arguments


@dataclass
class OpenProbe:
    """A connection after the first stage: connected, authenticated, inspected.

    Latency is sampled in a second stage, once every connection of the run has been
    opened: PING round trips taken while hundreds of other probes keep the event loop busy
    would measure the runner, not Redis.
    """

    target: ProbeTarget
    marks: _Marks
    connection: Connection | None
    outcome: ProbeOutcome


async def open_probe(target: ProbeTarget, budget: float) -> OpenProbe:
    """Connect, AUTH, INFO and queue lengths within ``budget``; never raises for a sick
    server (the connection stays open only when everything answered)."""
    marks = _Marks()
    connection = make_connection(target, budget, marks)
    try:
        async with asyncio.timeout(budget):
            await connection.connect()  # type: ignore[no-untyped-call]
            marks.step = "info"
            server, queues = await _inspect(connection, target)
        return OpenProbe(target, marks, connection, ProbeOutcome(marks.timings(), server, queues))
    except (RedisError, OSError, TimeoutError) as exc:
        await _close(connection)
        return OpenProbe(target, marks, None, _classify(exc, target, marks, budget))
    except BaseException:
        await _close(connection)
        raise


async def sample_latency(opened: OpenProbe, budget: float, *,
                         samples: int = PING_SAMPLES) -> ProbeOutcome:
    """PING round trips on an open probe within ``budget``; closes the connection."""
    if opened.connection is None:
        return opened.outcome
    marks, connection = opened.marks, opened.connection
    marks.step = "ping"
    try:
        async with asyncio.timeout(budget):
            await _ping(connection, marks, samples)
        return ProbeOutcome(marks.timings(), opened.outcome.server, opened.outcome.queues)
    except (RedisError, OSError, TimeoutError) as exc:
        return _classify(exc, opened.target, marks, budget)
    finally:
        await _close(connection)


async def probe(target: ProbeTarget, budget: float, *, samples: int = PING_SAMPLES) -> ProbeOutcome:
    """Both stages for one connection, each within ``budget``."""
    opened = await open_probe(target, budget)
    return await sample_latency(opened, budget, samples=samples)


async def close_probe(opened: OpenProbe) -> None:
    if opened.connection is not None:
        await _close(opened.connection)


async def _close(connection: Connection) -> None:
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await connection.disconnect(nowait=True)


def _classify(exc: BaseException, target: ProbeTarget, marks: _Marks,
              budget: float) -> ProbeOutcome:
    """down when the server did not answer, error when it refused our credentials."""
    if isinstance(exc, RedisTimeoutError):
        options = target.connection.options
        waited = options.connect_timeout if marks.step == "connect" else options.read_timeout
        return _failed(marks, Status.DOWN, "timeout",
                       f"no answer within {_seconds(min(waited, budget))} "
                       f"({_doing(marks.step)})")
    if isinstance(exc, TimeoutError):
        return _failed(marks, Status.DOWN, "timeout",
                       f"no answer within {_seconds(budget)} ({_doing(marks.step)})")
    if isinstance(exc, AuthenticationError):
        return _failed(marks, Status.ERROR, "auth", _auth_message(target, exc))
    rejected = _rejected_certificate(exc)
    if rejected is not None:  # the server answered; we do not trust it: error, not down
        return _failed(marks, Status.ERROR, "connect",
                       f"TLS certificate failed verification: {rejected}")
    if isinstance(exc, ConnectionError):
        return _failed(marks, Status.DOWN, "connect",
                       f"unreachable while {_doing(marks.step)}: {_clean(exc)}")
    return _failed(marks, Status.DOWN, marks.step,
                   f"failed while {_doing(marks.step)}: {_clean(exc)}")


def _rejected_certificate(exc: BaseException) -> str | None:
    """Why the server's TLS certificate was rejected, if that is what failed; redis-py
    raises its own ConnectionError while handling the ssl error, so look down the chain."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return " ".join((seen.verify_message or str(seen)).split())[:300]
        seen = seen.__cause__ or seen.__context__
    return None


async def _ping(connection: Connection, marks: _Marks, samples: int) -> None:
    for _ in range(samples):
        started = time.perf_counter()
        await connection.send_command("PING", check_health=False)
        reply = await connection.read_response()
        if reply not in (b"PONG", "PONG"):
            raise RedisError(f"unexpected reply to PING: {reply!r:.40}")
        marks.samples.append((time.perf_counter() - started) * 1000)


async def _inspect(connection: Connection,
                   target: ProbeTarget) -> tuple[ServerInfo, list[QueueDepth]]:
    """INFO, CONFIG GET maxclients, SELECT and the first queue commands in one round trip;
    the queue commands that need their replies (``QueueInspection.second``) in one more."""
    inspection = QueueInspection([spec.scheme for spec in target.queues])
    commands: list[tuple[str, ...]] = [("INFO",), ("CONFIG", "GET", "maxclients"),
                                       ("SELECT", str(target.connection.database))]
    commands += inspection.first()
    replies = await _pipeline(connection, commands)
    info, maxclients, selected = replies[0], replies[1], replies[2]
    for reply in (info, selected):  # without the right database, no length is right
        if isinstance(reply, Exception):
            raise reply
    config = None if isinstance(maxclients, Exception) else _pairs(maxclients)
    follow_up = inspection.second(replies[3:])
    later = await _pipeline(connection, follow_up) if follow_up else []
    stats = inspection.stats(later, now=time.time())
    return server_info(parse_info(info), config), queue_depths(target, stats)


async def _pipeline(connection: Connection, commands: list[tuple[str, ...]]) -> list[Any]:
    await connection.send_packed_command(connection.pack_commands(commands),
                                         check_health=False)
    replies: list[Any] = []
    for _ in commands:
        try:
            replies.append(await connection.read_response())
        except ResponseError as exc:  # an error reply; the stream stays in step
            replies.append(exc)
    return replies


def _pairs(reply: Any) -> dict[str, Any]:
    if isinstance(reply, dict):
        return {_text(k): v for k, v in reply.items()}
    items = list(reply or [])
    return {_text(k): v for k, v in zip(items[::2], items[1::2], strict=False)}


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# INFO fields the report uses; the other ~170 lines of INFO are skipped by the pattern.
_INFO_FIELD = re.compile(
    r"^(redis_version|role|uptime_in_seconds|used_memory|maxmemory|mem_fragmentation_ratio"
    r"|connected_clients|blocked_clients|rejected_connections|evicted_keys|keyspace_hits"
    r"|keyspace_misses):([^\r\n]*)", re.MULTILINE)
_KEYSPACE = re.compile(r"^(db[0-9]+):keys=([0-9]+)", re.MULTILINE)


def parse_info(raw: bytes | str) -> dict[str, Any]:
    """The fields we use from an INFO reply; ``dbN`` keyspace lines as ``{"keys": N}``."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    info: dict[str, Any] = dict(_INFO_FIELD.findall(text))
    for name, keys in _KEYSPACE.findall(text):
        info[name] = {"keys": keys}
    return info


def server_info(info: dict[str, Any], config: dict[str, Any] | None) -> ServerInfo:
    used, limit = _int(info.get("used_memory")), _int(info.get("maxmemory"))
    clients = _int(info.get("connected_clients"))
    maxclients = _int((config or {}).get("maxclients"))
    keys = {name: int(value["keys"]) for name, value in sorted(info.items())
            if name.startswith("db") and name[2:].isdigit() and isinstance(value, dict)
            and "keys" in value}
    return ServerInfo(
        version=_str(info.get("redis_version")), role=_str(info.get("role")),
        uptime_seconds=_int(info.get("uptime_in_seconds")),
        used_memory=used, maxmemory=limit,
        memory_percent=_percent(used, limit),
        fragmentation_ratio=_float(info.get("mem_fragmentation_ratio")),
        connected_clients=clients, blocked_clients=_int(info.get("blocked_clients")),
        maxclients=maxclients, clients_percent=_percent(clients, maxclients),
        rejected_connections=_int(info.get("rejected_connections")),
        evicted_keys=_int(info.get("evicted_keys")),
        keyspace_hits=_int(info.get("keyspace_hits")),
        keyspace_misses=_int(info.get("keyspace_misses")),
        keys_per_db=keys)


def queue_depths(target: ProbeTarget, stats: list[QueueStats]) -> list[QueueDepth]:
    return [QueueDepth(
        application=spec.application, runtime=spec.runtime, queue=spec.queue,
        worker_groups=list(spec.worker_groups), key=spec.scheme.key,
        pending=figures.waiting, delayed=figures.delayed, reserved=figures.reserved,
        failed=figures.failed, failed_scope=figures.failed_scope,
        oldest_pending_age_s=figures.oldest_pending_age_s,
        estimated_wait_s=figures.estimated_wait_s, workers=figures.workers,
        average_runtime_ms=figures.average_runtime_ms, completed=figures.completed_counter,
        error="; ".join(figures.errors) or None)
        for spec, figures in zip(target.queues, stats, strict=True)]


def _failed(marks: _Marks, status: Status, check: str, message: str) -> ProbeOutcome:
    return ProbeOutcome(marks.timings(), failure=Finding(check=check, status=status,
                                                         message=message))


def _auth_message(target: ProbeTarget, exc: AuthenticationError) -> str:
    if target.password is None:
        return "the server requires authentication but the connection has no password"
    return f"authentication refused: {_clean(exc)}"


_DOING = {"connect": "connecting", "auth": "authenticating", "ping": "waiting for PING",
          "info": "reading INFO and queue lengths"}


def _doing(step: str) -> str:
    return _DOING.get(step, step)


def _seconds(value: float) -> str:
    return f"{value:.2g} s" if value < 1 else f"{value:.3g} s"


def _clean(exc: BaseException) -> str:
    """A one-line reason; redis-py messages name host and port, never the password."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _percent(value: int | None, limit: int | None) -> float | None:
    if value is None or not limit:
        return None
    return round(value * 100 / limit, 2)
