"""Probe one Redis connection: connect, AUTH, PING samples, INFO, keyspace, queue depths.

The probe speaks RESP itself (``hznctl.health.resp``): every reply is bounded (INFO at
1 MiB, every line, aggregate and the connection's total bytes), and a reply that breaks
the protocol or a bound grades the connection ``error`` with what was wrong. Time is
bounded twice:

* each step (connect, AUTH, the INFO pipeline, the PING samples) within the connection's
  ``connect_timeout`` or ``read_timeout``, never above the check's budget;
* a hard ``asyncio.timeout`` around the whole check, so a server that accepts and then
  says nothing (SIGSTOP, a black hole), or that answers one byte at a time, costs at most
  the check timeout — reading and parsing included.

One TCP connection per probe; AUTH, INFO, CONFIG GET, SELECT and the queue commands go in
one pipelined round trip (AUTH's reply read first), the queue commands that need their
replies (``queues``) in at most one more. Every text from the server is redacted before it is kept.
"""

from __future__ import annotations

import asyncio
import ssl
import statistics
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from hznctl.health.model import Finding, QueueDepth, ServerInfo, Status, Timings
from hznctl.health.queues import QueueInspection, QueueStats
from hznctl.health.resp import (
    Arg,
    ProtocolError,
    ReplyError,
    ReplyTooLarge,
    RespConnection,
    RespError,
    describe,
)
from hznctl.health.targets import ProbeTarget
from hznctl.redact import redact

PING_SAMPLES = 3
T = TypeVar("T")


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


class _StepTimeout(Exception):
    """A step got no answer within its own timeout (connect or read)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


class _AuthRefused(Exception):
    pass


async def _within(seconds: float, step: Awaitable[T]) -> T:
    try:
        async with asyncio.timeout(seconds):
            return await step
    except TimeoutError:
        raise _StepTimeout(seconds) from None


def tls_context(target: ProbeTarget) -> ssl.SSLContext | None:
    """The connection's TLS: verified against ``server_name`` (also sent as SNI) or the
    host, with the system's or the given CA; or unverified when ``verify: false``."""
    tls = target.connection.tls
    if not tls.enabled:
        return None
    if tls.verify:
        return ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def connect(target: ProbeTarget, budget: float, marks: _Marks) -> RespConnection:
    """Connect (TLS included) and AUTH, each step within its timeout."""
    opened = await _open(target, budget, marks)
    try:
        await _authenticate(opened, target, budget, marks)
    except BaseException:
        await opened.close()
        raise
    return opened


async def _open(target: ProbeTarget, budget: float, marks: _Marks) -> RespConnection:
    """Connect (TLS included) within the connection's connect timeout."""
    connection = target.connection
    host = connection.host.strip("[]")
    opened = await _within(min(connection.options.connect_timeout, budget), RespConnection.open(
        host, connection.port, tls=tls_context(target),
        server_hostname=connection.tls.server_name or host))
    marks.connected = time.perf_counter()
    marks.step = "auth"
    return opened


async def open_connection(target: ProbeTarget, budget: float) -> RespConnection:
    """A connected, authenticated ``RespConnection`` to ``target`` within ``budget``, for
    inspections beyond the probe (``execute`` / ``execute_many``; every reply bounded).
    Raises what ``connect`` raises; the caller closes it."""
    async with asyncio.timeout(budget):
        return await connect(target, budget, _Marks())


async def _authenticate(connection: RespConnection, target: ProbeTarget, budget: float,
                        marks: _Marks, then: Sequence[Sequence[Arg]] = ()) -> int:
    """AUTH, when the connection has a password, with the commands ``then`` in the same
    write; how many replies to ``then`` are owed once AUTH's reply is read.

    ``then`` carries no secret and is refused (NOAUTH) when AUTH is: sending it before
    AUTH has answered saves a round trip per probe and reveals nothing the probe would not
    send a moment later. AUTH's own reply is read, within the read timeout, before any of
    the others is looked at.
    """
    password = target.password
    if password is None:
        marks.authenticated = time.perf_counter()
        return connection.send(then) if then else 0
    username = target.connection.username
    read = min(target.connection.options.read_timeout, budget)
    args = ("AUTH", username, password) if username else ("AUTH", password)
    owed = connection.send([args, *then]) - 1
    (reply,) = await _within(read, connection.read_replies(1))
    if isinstance(reply, ReplyError):
        if username is None or "wrong number of arguments" not in reply.message.lower():
            raise _AuthRefused(reply.message)
        # Redis before 6 has no users: AUTH takes the password alone. What went with the
        # refused AUTH was refused too: read past it, then send it again.
        if owed:
            await _within(read, connection.read_replies(owed))
        owed = connection.send([("AUTH", password), *then]) - 1
        (reply,) = await _within(read, connection.read_replies(1))
        if isinstance(reply, ReplyError):
            raise _AuthRefused(reply.message)
    if reply != b"OK":
        raise ProtocolError(f"unexpected reply to AUTH: {describe(reply)}")
    marks.authenticated = time.perf_counter()
    return owed


@dataclass
class OpenProbe:
    """A connection after the first stage: connected, authenticated, inspected.

    Latency is sampled in a second stage, once every connection of the run has been
    opened: PING round trips taken while hundreds of other probes keep the event loop busy
    would measure the runner, not Redis.
    """

    target: ProbeTarget
    marks: _Marks
    connection: RespConnection | None
    outcome: ProbeOutcome


_FAILURES = (RespError, ReplyError, _AuthRefused, _StepTimeout, OSError, TimeoutError,
             ValueError)


async def open_probe(target: ProbeTarget, budget: float) -> OpenProbe:
    """Connect, AUTH, INFO and queue lengths within ``budget``; never raises for a sick
    server (the connection stays open only when everything answered)."""
    marks = _Marks()
    connection: RespConnection | None = None
    try:
        async with asyncio.timeout(budget):
            connection = await _open(target, budget, marks)
            inspection = QueueInspection([spec.scheme for spec in target.queues])
            first = _first_commands(target, inspection)
            owed = await _authenticate(connection, target, budget, marks, first)
            marks.step = "info"
            read = min(target.connection.options.read_timeout, budget)
            server, queues = await _within(read, _inspect(connection, target, inspection,
                                                          owed))
        return OpenProbe(target, marks, connection, ProbeOutcome(marks.timings(), server, queues))
    except _FAILURES as exc:
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
            read = min(opened.target.connection.options.read_timeout, budget)
            await _within(read, _ping(connection, marks, samples))
        return ProbeOutcome(marks.timings(), opened.outcome.server, opened.outcome.queues)
    except _FAILURES as exc:  # what the first stage measured stays in the report
        return replace(_classify(exc, opened.target, marks, budget),
                       server=opened.outcome.server, queues=opened.outcome.queues)
    finally:
        await _close(connection)


async def probe(target: ProbeTarget, budget: float, *, samples: int = PING_SAMPLES) -> ProbeOutcome:
    """Both stages for one connection, each within ``budget``."""
    opened = await open_probe(target, budget)
    return await sample_latency(opened, budget, samples=samples)


async def close_probe(opened: OpenProbe) -> None:
    await _close(opened.connection)


async def _close(connection: RespConnection | None) -> None:
    if connection is not None:
        await connection.close()


def _classify(exc: BaseException, target: ProbeTarget, marks: _Marks,
              budget: float) -> ProbeOutcome:
    """down when the server did not answer; error when it refused our credentials or
    answered what is not a reply (malformed, or over a bound)."""
    doing = _doing(marks.step)
    rejected = _rejected_certificate(exc)
    if rejected is not None:  # the server answered; we do not trust it: error, not down
        return _failed(marks, Status.ERROR, "connect",
                       f"TLS certificate failed verification: {rejected}")
    if isinstance(exc, _StepTimeout):
        return _failed(marks, Status.DOWN, "timeout",
                       f"no answer within {_seconds(exc.seconds)} ({doing})")
    if isinstance(exc, TimeoutError):
        return _failed(marks, Status.DOWN, "timeout",
                       f"no answer within {_seconds(budget)} ({doing})")
    if isinstance(exc, _AuthRefused):
        return _failed(marks, Status.ERROR, "auth", f"authentication refused: {_clean(exc)}")
    if isinstance(exc, ReplyError) and exc.code in ("NOAUTH", "WRONGPASS"):
        return _failed(marks, Status.ERROR, "auth", _auth_message(target, exc))
    if isinstance(exc, ReplyTooLarge):
        return _failed(marks, Status.ERROR, "reply",
                       f"reply too large while {doing}: {_clean(exc)}")
    if isinstance(exc, RespError | ValueError):
        return _failed(marks, Status.ERROR, "reply",
                       f"malformed reply while {doing}: {_clean(exc)}")
    if isinstance(exc, OSError):
        return _failed(marks, Status.DOWN, "connect", f"unreachable while {doing}: "
                       f"{_clean(exc)}")
    return _failed(marks, Status.DOWN, marks.step, f"failed while {doing}: {_clean(exc)}")


def _rejected_certificate(exc: BaseException) -> str | None:
    """Why the server's TLS certificate was rejected, if that is what failed."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return redact(" ".join((seen.verify_message or str(seen)).split()))[:300]
        seen = seen.__cause__ or seen.__context__
    return None


async def _ping(connection: RespConnection, marks: _Marks, samples: int) -> None:
    for _ in range(samples):
        started = time.perf_counter()
        reply = await connection.execute("PING")
        if reply != b"PONG":
            raise ProtocolError(f"unexpected reply to PING: {describe(reply)}")
        marks.samples.append((time.perf_counter() - started) * 1000)


def _first_commands(target: ProbeTarget, inspection: QueueInspection) -> list[tuple[str, ...]]:
    """INFO, CONFIG GET maxclients, SELECT and the first queue commands: one write, sent
    with AUTH."""
    commands: list[tuple[str, ...]] = [("INFO",), ("CONFIG", "GET", "maxclients"),
                                       ("SELECT", str(target.connection.database))]
    return commands + inspection.first()


async def _inspect(connection: RespConnection, target: ProbeTarget,
                   inspection: QueueInspection, owed: int) -> tuple[ServerInfo, list[QueueDepth]]:
    """The replies to ``_first_commands`` (``owed`` of them, already sent); the queue
    commands that need their replies (``QueueInspection.second``) in one more round trip."""
    replies = await connection.read_replies(owed)
    info, maxclients, selected = replies[0], replies[1], replies[2]
    for reply in (info, selected):  # without the right database, no length is right
        if isinstance(reply, ReplyError):
            raise reply
    if not isinstance(info, bytes):
        raise ProtocolError(f"unexpected reply to INFO: {describe(info)}")
    if selected != b"OK":
        raise ProtocolError(f"unexpected reply to SELECT: {describe(selected)}")
    config = _pairs(maxclients) if isinstance(maxclients, list | dict) else None
    follow_up = inspection.second(replies[3:])
    later = await connection.execute_many(follow_up) if follow_up else []
    stats = inspection.stats(later, now=time.time())
    return server_info(parse_info(info), config), queue_depths(target, stats)


def _pairs(reply: Any) -> dict[str, Any]:
    if isinstance(reply, dict):
        return {_text(k): v for k, v in reply.items()}
    items = list(reply or [])
    return {_text(k): v for k, v in zip(items[::2], items[1::2], strict=False)}


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# INFO fields the report uses; the other ~170 lines of INFO are never looked at.
INFO_FIELDS = ("redis_version", "role", "uptime_in_seconds", "used_memory", "maxmemory",
               "mem_fragmentation_ratio", "connected_clients", "blocked_clients",
               "rejected_connections", "evicted_keys", "keyspace_hits", "keyspace_misses")
_FIELD_HEADS = tuple((name, name.encode() + b":") for name in INFO_FIELDS)


def parse_info(data: bytes) -> dict[str, Any]:
    """The fields we use from an INFO reply; ``dbN`` keyspace lines as ``{"keys": N}``.

    A field is ``name:value`` at the start of a line (after ``\\n``), up to the next
    ``\\r`` or ``\\n``; when a name comes twice, the last line wins. Each field is found
    with one search from the end rather than by scanning every line: INFO is ~5 KiB, and
    a thousand of them were most of a probe's parsing. Values are decoded as UTF-8 with
    replacement, as the whole reply would be (a line's ASCII bounds never split a
    character). ``tests/unit/test_health_units.py`` holds this to a line-by-line regex.
    """
    info: dict[str, Any] = {}
    for name, head in _FIELD_HEADS:
        at = data.rfind(b"\n" + head)
        if at >= 0:
            at += 1
        elif data.startswith(head):
            at = 0
        else:
            continue
        info[name] = _decoded(_line_from(data, at + len(head)))
    if data.startswith(b"db"):
        _keyspace_line(data, 0, info)
    at = data.find(b"\ndb")
    while at >= 0:
        _keyspace_line(data, at + 1, info)
        at = data.find(b"\ndb", at + 1)
    return info


def _line_from(data: bytes, start: int) -> bytes:
    """``data`` from ``start`` to the next ``\\r`` or ``\\n`` (or its end)."""
    end = len(data)
    for stop in (b"\r", b"\n"):
        found = data.find(stop, start, end)
        if found >= 0:
            end = found
    return data[start:end]


def _keyspace_line(data: bytes, at: int, info: dict[str, Any]) -> None:
    """``db<digits>:keys=<digits>`` at ``at``: its name and key count into ``info``."""
    digits = at + 2
    while digits < len(data) and 48 <= data[digits] <= 57:
        digits += 1
    if digits == at + 2 or not data.startswith(b":keys=", digits):
        return
    count = end = digits + 6
    while end < len(data) and 48 <= data[end] <= 57:
        end += 1
    if end > count:
        info[data[at:digits].decode("ascii")] = {"keys": data[count:end].decode("ascii")}


def _decoded(value: bytes) -> str:
    return value.decode("utf-8", "replace")


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
        error=redact("; ".join(figures.errors)) or None)
        for spec, figures in zip(target.queues, stats, strict=True)]


def _failed(marks: _Marks, status: Status, check: str, message: str) -> ProbeOutcome:
    return ProbeOutcome(marks.timings(), failure=Finding(check=check, status=status,
                                                         message=message))


def _auth_message(target: ProbeTarget, exc: ReplyError) -> str:
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
    """A one-line reason, redacted: whatever the server or the system said."""
    text = " ".join(redact(str(exc)).split()) or type(exc).__name__
    return text[:300]


def _str(value: Any) -> str | None:
    """A short text from INFO (version, role): redacted and cut to 100 characters."""
    return None if value is None else redact(str(value))[:100]


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
