"""The run history (JSON lines, one run per line) and status transitions between runs.

Each run appends one compact line per run: per connection its status and the few figures
the HTML charts draw. The file is rewritten through a temporary file and a rename, so a
crash leaves the old history or the new one, never half a line. It is read with a size
limit and every line checked against the record's schema: a history is trusted whole or
not at all (``load_history``), since the previous statuses decide what is notified.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hznctl.atomic import write_bytes
from hznctl.errors import HznctlError
from hznctl.escape import terminal
from hznctl.health.model import (
    ConnectionHealth,
    HealthReport,
    QueueDepth,
    Status,
    Transition,
    worst,
)
from hznctl.readfile import NotARegularFile, read_regular

HISTORY_VERSION = 1
CHART_RUNS = 200  # runs the charts show
# A run is ~120 bytes per connection: 32 MiB keeps ~2,800 runs (a month at one run every
# 15 minutes) of a hundred connections; the oldest runs go first.
MAX_HISTORY_BYTES = 32 * 1024 * 1024


# Per queue, in each connection's "queues" (keyed "application/queue"): short names, as a
# thousand connections of twenty queues make every run's line long.
QUEUE_FIGURES = {"p": "pending", "a": "oldest_pending_age_s", "w": "estimated_wait_s",
                 "f": "failed", "c": "completed", "n": "workers"}


@dataclass(frozen=True)
class RunRecord:
    at: str
    statuses: dict[str, Status]
    figures: dict[str, dict[str, float | None]]  # connection -> latency_ms, memory_percent, …
    # connection -> "application/queue" -> figure (QUEUE_FIGURES' values) -> value
    queues: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)


class HistoryProblem(Exception):
    """Why a history file is not trusted."""


@dataclass(frozen=True)
class History:
    """The runs of a history file, oldest first; ``problem`` says why the file was not
    trusted (then ``runs`` is empty: a damaged or forged history never counts)."""

    runs: list[RunRecord]
    problem: str | None = None


def load_history(path: Path) -> History:
    """The runs in ``path``, read with a size limit and checked line by line against the
    record's schema; a missing file is an empty history. A file over the limit or with one
    line that is not a record is ignored whole, with the reason: the previous statuses
    decide which notifications go out, so anyone who could write a line could suppress an
    outage's notification or fake one."""
    try:
        data = _read_bounded(path)
        return History([_parse(line, number) for number, line in
                        enumerate(data.split(b"\n")[:-1] if data else [], 1)])
    except HistoryProblem as exc:
        return History([], f"the history {path} is not trusted: {exc}")


def read_history(path: Path) -> list[RunRecord]:
    """The runs of a trusted history (none when it is not)."""
    return load_history(path).runs


def _read_bounded(path: Path) -> bytes:
    try:
        data = read_regular(path, MAX_HISTORY_BYTES)
    except NotARegularFile as exc:
        raise HistoryProblem(f"it is {exc}") from None
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise HznctlError(f"cannot read the history {path}: {exc.strerror}") from None
    if len(data) > MAX_HISTORY_BYTES:
        raise HistoryProblem(f"larger than {MAX_HISTORY_BYTES} bytes")
    if data and not data.endswith(b"\n"):
        raise HistoryProblem("its last line is cut short")
    return data


_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z")
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
_FIGURES = frozenset({"latency_ms", "latency_max_ms", "memory_percent", "used_memory",
                      "backlog"})
_STATUSES = frozenset(s.value for s in Status)


def _parse(line: bytes, number: int) -> RunRecord:
    """One run, exactly as ``record_line`` writes it, or a HistoryProblem naming the line."""
    try:
        raw = json.loads(line)
    except ValueError:
        raise HistoryProblem(f"line {number} is not JSON") from None
    if not isinstance(raw, dict) or set(raw) != {"version", "at", "status", "connections"}:
        raise HistoryProblem(f"line {number} is not a run record")
    if raw["version"] != HISTORY_VERSION or type(raw["version"]) is not int:
        raise HistoryProblem(f"line {number}: version is not {HISTORY_VERSION}")
    if not isinstance(raw["at"], str) or not _STAMP.match(raw["at"]):
        raise HistoryProblem(f"line {number}: at is not a UTC time (YYYY-MM-DDTHH:MM:SSZ)")
    if raw["status"] not in _STATUSES:
        raise HistoryProblem(f"line {number}: status is not a health status")
    connections = raw["connections"]
    if not isinstance(connections, dict):
        raise HistoryProblem(f"line {number}: connections is not a mapping")
    statuses: dict[str, Status] = {}
    figures: dict[str, dict[str, float | None]] = {}
    queues: dict[str, dict[str, dict[str, float | None]]] = {}
    for name, item in connections.items():
        if not _NAME.match(name) or not isinstance(item, dict) or \
                set(item) - {"queues"} != _FIGURES | {"status"} or \
                item["status"] not in _STATUSES:
            raise HistoryProblem(f"line {number}: connection {terminal(name[:64])!r} "
                                 "is not a connection record")
        for key in _FIGURES:
            value = item[key]
            if value is not None and (type(value) not in (int, float)
                                      or not math.isfinite(value) or value < 0):
                raise HistoryProblem(f"line {number}: {key} of {name} is not a number ≥ 0")
        statuses[name] = Status(item["status"])
        figures[name] = {k: item[k] for k in _FIGURES}
        if "queues" in item:
            queues[name] = _queues(item["queues"], number, name)
    return RunRecord(raw["at"], statuses, figures, queues)


def _queues(raw: Any, number: int, connection: str) -> dict[str, dict[str, float | None]]:
    """A connection's queue figures, each a number ≥ 0 under a known short name."""
    if not isinstance(raw, dict):
        raise HistoryProblem(f"line {number}: queues of {connection} is not a mapping")
    found: dict[str, dict[str, float | None]] = {}
    for name, item in raw.items():
        if not isinstance(item, dict) or len(name) > 200 or set(item) - set(QUEUE_FIGURES):
            raise HistoryProblem(f"line {number}: a queue of {connection} is not a queue "
                                 "record")
        for value in item.values():
            if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
                raise HistoryProblem(f"line {number}: a queue figure of {connection} is not "
                                     "a number ≥ 0")
        found[name] = {QUEUE_FIGURES[k]: v for k, v in item.items()}
    return found


def queue_name(queue: QueueDepth) -> str:
    return f"{queue.application}/{queue.queue}"


def record_line(report: HealthReport) -> str:
    connections: dict[str, dict[str, Any]] = {}
    for item in report.connections:
        server = item.server
        connections[item.connection] = {
            "status": item.status.value,
            "latency_ms": item.timings.latency_p50_ms,
            "latency_max_ms": item.timings.latency_max_ms,
            "memory_percent": server.memory_percent if server else None,
            "used_memory": server.used_memory if server else None,
            "backlog": item.backlog,
        }
        queues = {queue_name(q): {short: value for short, long in QUEUE_FIGURES.items()
                                  if (value := _queue_figure(q, long)) is not None}
                  for q in item.queues}
        if queues:
            connections[item.connection]["queues"] = queues
    line = {"version": HISTORY_VERSION, "at": report.started_at, "status": report.status.value,
            "connections": connections}
    return json.dumps(line, sort_keys=True, separators=(",", ":"))


def _queue_figure(queue: QueueDepth, name: str) -> float | None:
    if name == "pending":
        return queue.pending
    if name == "completed":
        return queue.completed
    value: float | None = getattr(queue, name)
    return value


def append_run(path: Path, report: HealthReport, *, trusted: bool = True) -> None:
    """Add this run to the history. An untrusted history is set aside as
    ``<name>.rejected`` and a new one starts; the oldest runs go when the file would grow
    past ``MAX_HISTORY_BYTES``."""
    line = record_line(report).encode("utf-8") + b"\n"
    existing = b""
    try:
        if not trusted and path.exists():
            path.replace(path.with_name(path.name + ".rejected"))
        elif trusted:
            existing = _read_bounded(path)
    except (OSError, HistoryProblem) as exc:
        raise HznctlError(f"cannot read the history {path}: {exc}") from None
    keep = len(existing)
    while keep and keep + len(line) > MAX_HISTORY_BYTES:
        cut = existing.find(b"\n", len(existing) - keep) + 1
        keep = len(existing) - cut if cut else 0
    try:
        write_bytes(path, existing[len(existing) - keep:] + line)
    except OSError as exc:
        raise HznctlError(f"cannot write the history {path}: {exc.strerror}") from None


def parse_record(line: bytes) -> RunRecord:
    return _parse(line, 1)


def record_json(record: RunRecord) -> str:
    """A record as a history line again (what ``parse_record`` reads)."""
    connections: dict[str, dict[str, Any]] = {}
    for name, status in record.statuses.items():
        item: dict[str, Any] = {"status": status.value, **record.figures.get(name, {})}
        queues = record.queues.get(name)
        if queues:
            short = {long: key for key, long in QUEUE_FIGURES.items()}
            item["queues"] = {q: {short[k]: v for k, v in figures.items() if v is not None}
                              for q, figures in queues.items()}
        connections[name] = item
    status = worst(list(record.statuses.values())) if record.statuses else Status.OK
    return json.dumps({"version": HISTORY_VERSION, "at": record.at, "status": status.value,
                       "connections": connections}, sort_keys=True, separators=(",", ":"))


def run_record(report: HealthReport) -> RunRecord:
    return _parse(record_line(report).encode("utf-8"), 1)


def with_previous(connections: list[ConnectionHealth],
                  previous: RunRecord | None) -> list[ConnectionHealth]:
    """Each connection with its status in the previous run."""
    if previous is None:
        return connections
    return [c.model_copy(update={"previous_status": previous.statuses.get(c.connection)})
            for c in connections]


def transitions(connections: list[ConnectionHealth], previous: RunRecord | None,
                *, have_history: bool) -> list[Transition]:
    """Changes of status since the previous run.

    A connection new to the history (or the first run of a new history) counts as a
    transition only when it is not ok: an outage is news, a healthy newcomer is not.
    Without a history nothing can change.
    """
    if not have_history:
        return []
    found = []
    for item in connections:
        before = previous.statuses.get(item.connection) if previous else None
        if before is item.status or (before is None and item.status is Status.OK):
            continue
        found.append(Transition(connection=item.connection, environment=item.environment,
                                previous=before, current=item.status, message=item.message))
    return found
