"""The run history (JSON lines, one run per line) and status transitions between runs.

Each run appends one compact line per run: per connection its status and the few figures
the HTML charts draw. The file is rewritten through a temporary file and a rename, so a
crash leaves the old history or the new one, never half a line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hznctl.atomic import write_bytes
from hznctl.errors import HznctlError
from hznctl.health.model import ConnectionHealth, HealthReport, QueueDepth, Status, Transition

HISTORY_VERSION = 1
CHART_RUNS = 200  # runs the charts show; the file itself keeps every run


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


def read_history(path: Path) -> list[RunRecord]:
    """Every readable run in ``path`` (oldest first); a missing file is an empty history."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise HznctlError(f"cannot read the history {path}: {exc.strerror}") from None
    records = []
    for line in data.splitlines():
        record = _parse(line)
        if record is not None:
            records.append(record)
    return records


def _parse(line: bytes) -> RunRecord | None:
    """A damaged or foreign line is skipped: the history is a log, not a contract."""
    try:
        raw = json.loads(line)
        connections = raw["connections"]
        statuses = {name: Status(item["status"]) for name, item in connections.items()}
        figures = {name: {k: v for k, v in item.items() if k not in ("status", "queues")}
                   for name, item in connections.items()}
        queues = {name: _queues(item.get("queues")) for name, item in connections.items()
                  if item.get("queues")}
        return RunRecord(str(raw["at"]), statuses, figures, queues)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _queues(raw: Any) -> dict[str, dict[str, float | None]]:
    if not isinstance(raw, dict):
        return {}
    found: dict[str, dict[str, float | None]] = {}
    for name, item in raw.items():
        if isinstance(item, dict):
            found[str(name)] = {QUEUE_FIGURES[k]: _number(v) for k, v in item.items()
                                if k in QUEUE_FIGURES}
    return found


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


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


def append_run(path: Path, report: HealthReport) -> None:
    try:
        existing = path.read_bytes()
    except FileNotFoundError:
        existing = b""
    except OSError as exc:
        raise HznctlError(f"cannot read the history {path}: {exc.strerror}") from None
    if existing and not existing.endswith(b"\n"):
        # A torn last line from another writer: keep it on its own line, skipped on read.
        existing += b"\n"
    try:
        write_bytes(path, existing + record_line(report).encode("utf-8") + b"\n")
    except OSError as exc:
        raise HznctlError(f"cannot write the history {path}: {exc.strerror}") from None


def parse_record(line: bytes) -> RunRecord | None:
    return _parse(line)


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
    return json.dumps({"version": HISTORY_VERSION, "at": record.at,
                       "connections": connections}, sort_keys=True, separators=(",", ":"))


def run_record(report: HealthReport) -> RunRecord:
    parsed = _parse(record_line(report).encode("utf-8"))
    assert parsed is not None
    return parsed


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
