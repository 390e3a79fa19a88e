"""What each runtime keeps about a queue in Redis, read with a bounded number of commands.

Pure functions, no I/O: ``QueueInspection`` gives the commands of the first round trip
(pipelined after the probe's INFO), then, from their replies, the few commands that need
them (the oldest RQ job's hash, Horizon's supervisors), then the figures of every queue.
Any transport that sends a list of commands and returns their replies in order (an
``Exception`` for an error reply) can run it. Every command is read-only and costs O(1)
or O(log n) however long the queue is; registries are counted with ZCARD, never with
the runtimes' own ``count()`` (which cleans them up as it goes).

Where each runtime keeps its queues, and which of their figures it records: see
``keyschemes``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hznctl.health.keyschemes import QueueScheme
from hznctl.health.resp import describe
from hznctl.models import Runtime

Command = tuple[str, ...]
# Supervisors read per Horizon prefix: more than any real deployment runs, and a bound on
# the second round trip whatever a server holds.
MAX_SUPERVISORS = 200
# The oldest job's payload is parsed only this far; a longer one says nothing we can read.
MAX_PAYLOAD = 1 << 20
MAX_JOB_ID = 256
_RQ_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?$")


@dataclass
class QueueStats:
    """The figures of one queue; None where the runtime does not keep them in Redis."""

    waiting: int | None = None
    delayed: int | None = None
    reserved: int | None = None
    failed: int | None = None
    failed_scope: str | None = None  # "queue", or "application" for Horizon
    oldest_pending_age_s: float | None = None
    estimated_wait_s: float | None = None
    workers: int | None = None
    average_runtime_ms: float | None = None
    completed_counter: int | None = None  # a runtime's counter of finished jobs
    errors: list[str] = field(default_factory=list)


@dataclass
class _Slot:
    """Where a command's reply goes."""

    scheme: int  # index into the schemes; -1: shared by the connection
    what: str
    key: str


class QueueInspection:
    """The commands for every queue of one connection, and their figures from the replies.

    ``first()`` returns the first round trip's commands, ``second(replies)`` those that need
    their replies (possibly none: then skip the round trip), ``stats(replies)`` the figures.
    """

    def __init__(self, schemes: Sequence[QueueScheme]) -> None:
        self.schemes = list(schemes)
        self._first: list[_Slot] = []
        self._commands: list[Command] = []
        self._stats = [QueueStats() for _ in self.schemes]
        self._second: list[_Slot] = []
        self._now: float | None = None
        self._oldest: dict[int, Any] = {}
        self._supervisors: dict[str, list[str]] = {}
        self._horizon_failed: dict[str, int | None] = {}
        self._unknown_waiting: set[int] = set()

    # --- the first round trip -----------------------------------------------------------

    def first(self) -> list[Command]:
        self._first, self._commands = [], []
        if not self.schemes:
            return []
        self._add(-1, "time", "", ("TIME",))
        for prefix in self.horizon_prefixes:
            self._add(-1, "supervisors", prefix,
                      ("ZRANGE", f"{prefix}supervisors", "0", str(MAX_SUPERVISORS - 1)))
            self._add(-1, "horizon_failed", prefix, ("ZCARD", f"{prefix}failed_jobs"))
        for index, s in enumerate(self.schemes):
            for key in s.waiting:
                self._add(index, "waiting", key, ("LLEN", key))
            if s.oldest is not None:
                head, position = s.oldest
                self._add(index, "oldest", head, ("LINDEX", head, str(position)))
                if s.runtime is Runtime.CELERY:  # every priority list's oldest message
                    for other in s.waiting[1:]:
                        self._add(index, "oldest", other, ("LINDEX", other, "-1"))
            for what, zset in (("delayed", s.delayed), ("reserved", s.reserved),
                               ("failed", s.failed)):
                if zset is not None:
                    self._add(index, what, zset, ("ZCARD", zset))
            if s.workers is not None:
                self._add(index, "workers", s.workers, ("SCARD", s.workers))
            if s.metrics is not None:
                self._add(index, "metrics", s.metrics,
                          ("HMGET", s.metrics, "runtime", "throughput"))
        return list(self._commands)

    @property
    def horizon_prefixes(self) -> list[str]:
        return sorted({s.horizon_prefix for s in self.schemes if s.horizon_prefix is not None})

    def _add(self, scheme: int, what: str, key: str, command: Command) -> None:
        self._first.append(_Slot(scheme, what, key))
        self._commands.append(command)

    # --- the second round trip ----------------------------------------------------------

    def second(self, replies: Sequence[Any]) -> list[Command]:
        """Read the first replies; the commands that depend on them."""
        if len(replies) != len(self._first):
            raise ValueError(f"{len(replies)} replies to {len(self._first)} queue commands")
        self._second = []
        commands: list[Command] = []
        for slot, reply in zip(self._first, replies, strict=True):
            self._take(slot, reply)
        for index, payloads in self._oldest.items():
            scheme = self.schemes[index]
            if scheme.runtime is Runtime.RQ and payloads:
                job = _text(payloads[0]) if isinstance(payloads[0], bytes | str) else ""
                if 0 < len(job) <= MAX_JOB_ID:  # RQ's ids are UUIDs or short names
                    self._second.append(_Slot(index, "rq_job", job))
                    commands.append(("HMGET", f"rq:job:{job}", "enqueued_at", "created_at"))
        for prefix, names in self._supervisors.items():
            for name in names[:MAX_SUPERVISORS]:
                self._second.append(_Slot(-1, "processes", prefix))
                commands.append(("HGET", f"{prefix}supervisor:{name}", "processes"))
        return commands

    def _take(self, slot: _Slot, reply: Any) -> None:
        if slot.scheme < 0:
            self._take_shared(slot, reply)
            return
        stats = self._stats[slot.scheme]
        if isinstance(reply, Exception):
            stats.errors.append(f"{slot.key}: {_clean(reply)}")
            if slot.what == "waiting":  # a part of the sum is unknown: so is the sum
                self._unknown_waiting.add(slot.scheme)
            return
        if slot.what in _COUNTS and (not isinstance(reply, int) or isinstance(reply, bool)):
            # A length that is not an integer is not a length: unknown, and said.
            stats.errors.append(f"{slot.key}: unexpected reply: {describe(reply)}")
            if slot.what == "waiting":
                self._unknown_waiting.add(slot.scheme)
            return
        if slot.what == "waiting":
            stats.waiting = (stats.waiting or 0) + _int(reply, 0)
        elif slot.what == "oldest":
            if reply is not None:
                self._oldest.setdefault(slot.scheme, []).append(reply)
        elif slot.what in ("delayed", "reserved", "failed", "workers"):
            setattr(stats, slot.what, _int(reply, 0))
            if slot.what == "failed":
                stats.failed_scope = "queue"
        elif slot.what == "metrics":
            runtime, throughput = [*_items(reply), None, None][:2]
            stats.average_runtime_ms = _float(runtime)
            counter = _float(throughput)
            stats.completed_counter = None if counter is None else int(counter)

    def _take_shared(self, slot: _Slot, reply: Any) -> None:
        if isinstance(reply, Exception):
            return
        if slot.what == "time":
            items = _items(reply)
            if len(items) == 2:
                seconds, micros = _int(items[0], 0), _int(items[1], 0)
                self._now = seconds + micros / 1e6
        elif slot.what == "supervisors":
            self._supervisors[slot.key] = [_text(name) for name in _items(reply)
                                           if isinstance(name, bytes | str)]
        elif slot.what == "horizon_failed":
            self._horizon_failed[slot.key] = _int(reply, 0)

    # --- the figures --------------------------------------------------------------------

    def stats(self, replies: Sequence[Any] = (), *, now: float | None = None) -> list[QueueStats]:
        """Every queue's figures; ``now`` (Unix time) when the server's TIME is not known."""
        if len(replies) != len(self._second):
            raise ValueError(f"{len(replies)} replies to {len(self._second)} queue commands")
        clock = self._now if self._now is not None else now
        # A prefix whose supervisors were read has no process for a queue none of them lists.
        processes: dict[str, dict[str, int]] = {prefix: {} for prefix in self._supervisors}
        enqueued: dict[int, float] = {}
        for slot, reply in zip(self._second, replies, strict=True):
            if isinstance(reply, Exception) or reply is None:
                continue
            if slot.what == "rq_job":
                stamps = [_rq_time(v) for v in _items(reply)]
                known = [s for s in stamps if s is not None]
                if known:
                    enqueued[slot.scheme] = known[0]
            elif slot.what == "processes":
                counts = processes.setdefault(slot.key, {})
                for queue, count in _processes(reply).items():
                    counts[queue] = counts.get(queue, 0) + count
        for index, scheme in enumerate(self.schemes):
            stats = self._stats[index]
            stamp = enqueued.get(index) if scheme.runtime is Runtime.RQ else \
                self._payload_time(scheme, self._oldest.get(index, []), clock)
            if stamp is not None and clock is not None:
                stats.oldest_pending_age_s = round(max(clock - stamp, 0.0), 3)
            if index in self._unknown_waiting:
                stats.waiting = None
            if scheme.horizon_prefix is not None:
                self._horizon(scheme, stats, processes.get(scheme.horizon_prefix))
        return self._stats

    def _payload_time(self, scheme: QueueScheme, payloads: list[Any],
                      clock: float | None) -> float | None:
        stamps = [_payload_time(scheme.runtime, p, clock) for p in payloads]
        known = [s for s in stamps if s is not None]
        return min(known) if known else None

    def _horizon(self, scheme: QueueScheme, stats: QueueStats,
                 processes: dict[str, int] | None) -> None:
        assert scheme.horizon_prefix is not None
        stats.failed = self._horizon_failed.get(scheme.horizon_prefix)
        stats.failed_scope = "application" if stats.failed is not None else None
        if processes is not None:
            stats.workers = processes.get(scheme.queue, 0)
        if stats.average_runtime_ms is not None and stats.waiting is not None:
            divisor = stats.workers or 1
            stats.estimated_wait_s = float(round(
                stats.waiting * stats.average_runtime_ms / divisor / 1000))


def _processes(reply: Any) -> dict[str, int]:
    """Horizon's ``processes``: ``{"redis:default": 3}``, by queue name."""
    try:
        data = json.loads(_text(reply))
    except ValueError:
        return {}
    found: dict[str, int] = {}
    if isinstance(data, dict):
        for name, count in data.items():
            queue = str(name).split(":", 1)[-1]
            if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
                found[queue] = found.get(queue, 0) + count
    return found


def _payload_time(runtime: Runtime, payload: Any, clock: float | None) -> float | None:
    raw = payload if isinstance(payload, bytes | str) else None
    if raw is None or len(raw) > MAX_PAYLOAD:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if runtime is Runtime.CELERY:
        headers = data.get("headers")
        eta = headers.get("eta") if isinstance(headers, dict) else None
        stamp = _iso_time(eta) if isinstance(eta, str) else None
        # A message due later has not started waiting; one due already has since then.
        return stamp if stamp is not None and (clock is None or stamp <= clock) else None
    for name in ("pushedAt", "createdAt"):
        value = _float(data.get(name))
        if value is not None and math.isfinite(value) and value > 0:
            return value
    return None


def _rq_time(value: Any) -> float | None:
    text = _text(value) if value is not None else ""
    if not _RQ_STAMP.match(text):
        return None
    return _iso_time(text if text.endswith("Z") else text + "Z")


def _iso_time(text: str) -> float | None:
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        return None
    return stamp.timestamp()


def _items(reply: Any) -> list[Any]:
    """An array reply's items; anything else (a hostile or confused server) is none."""
    return list(reply) if isinstance(reply, list | tuple) else []


_COUNTS = frozenset({"waiting", "delayed", "reserved", "failed", "workers"})


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(_text(value) if isinstance(value, bytes) else value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _clean(exc: BaseException) -> str:
    return (" ".join(str(exc).split()) or type(exc).__name__)[:300]
