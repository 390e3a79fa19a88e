"""The health report: what was measured on every connection and how it was graded.

``report.json`` is this model dumped as JSON; its JSON Schema is committed as
``schemas/health-report.schema.json`` (``report_schema_text``).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

REPORT_VERSION = 1


class Status(StrEnum):
    """ok < warning < critical < down; error: the runner could not judge (credentials)."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    DOWN = "down"
    ERROR = "error"


# Error ranks with down: a connection whose password does not work is as unusable to its
# workers as one that is unreachable.
RANK = {Status.OK: 0, Status.WARNING: 1, Status.CRITICAL: 2, Status.DOWN: 3, Status.ERROR: 3}
STATUS_ORDER = (Status.OK, Status.WARNING, Status.CRITICAL, Status.DOWN, Status.ERROR)


def worst(statuses: list[Status]) -> Status:
    result = Status.OK
    for status in statuses:
        if RANK[status] > RANK[result] or (RANK[status] == RANK[result]
                                           and status is Status.DOWN):
            result = status
    return result


class ReportModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Finding(ReportModel):
    """One graded check: which threshold it crossed, or why the probe failed."""

    check: str = Field(description="connect, auth, credentials, latency, memory, clients, "
                                   "backlog, wait, failed, workers, rejected_connections, "
                                   "evicted_keys, deadline")
    status: Status
    message: str


class Timings(ReportModel):
    connect_ms: float | None = Field(default=None, description="TCP (and TLS) connect.")
    auth_ms: float | None = Field(default=None, description=(
        "AUTH round trip (sent in one write with INFO and the first queue commands)."))
    latency_samples_ms: list[float] = Field(default_factory=list, description="PING round trips.")
    latency_p50_ms: float | None = None
    latency_max_ms: float | None = None


class ServerInfo(ReportModel):
    version: str | None = None
    role: str | None = None
    uptime_seconds: int | None = None
    used_memory: int | None = None
    maxmemory: int | None = Field(default=None, description="0: no limit.")
    memory_percent: float | None = None
    fragmentation_ratio: float | None = None
    connected_clients: int | None = None
    blocked_clients: int | None = None
    maxclients: int | None = Field(default=None, description="None when CONFIG GET is denied.")
    clients_percent: float | None = None
    rejected_connections: int | None = None
    evicted_keys: int | None = None
    keyspace_hits: int | None = None
    keyspace_misses: int | None = None
    keys_per_db: dict[str, int] = Field(default_factory=dict)


class QueueDepth(ReportModel):
    application: str
    runtime: str
    queue: str
    worker_groups: list[str]
    key: str = Field(description="The key of the waiting jobs.")
    pending: int | None = Field(default=None, description="Waiting jobs (Celery: every "
                                "priority list).")
    delayed: int | None = Field(default=None, description="Scheduled for later (Laravel, RQ).")
    reserved: int | None = Field(default=None, description="Being run (Laravel reserved, RQ "
                                 "started).")
    failed: int | None = Field(default=None, description="Failed jobs the runtime keeps in "
                               "Redis (RQ's failed registry, Horizon's failed jobs).")
    failed_scope: str | None = Field(default=None, description="queue, or application when "
                                     "the runtime counts failures per application (Horizon).")
    oldest_pending_age_s: float | None = Field(
        default=None, description="Seconds the oldest waiting job has waited, from the time "
        "its payload records (RQ enqueued_at, Laravel pushedAt/createdAt, Celery eta).")
    estimated_wait_s: float | None = Field(
        default=None, description="Horizon's estimate: waiting × average runtime ÷ processes.")
    throughput_per_min: float | None = Field(
        default=None, description="Jobs finished per minute since the previous run, from the "
        "runtime's counter (Horizon).")
    workers: int | None = Field(default=None, description="Workers (RQ) or processes "
                                "(Horizon) registered for the queue.")
    average_runtime_ms: float | None = Field(default=None, description="Horizon's average "
                                             "job runtime for the queue.")
    completed: int | None = Field(default=None, description="The runtime's counter of "
                                  "finished jobs (Horizon: since its last snapshot).")
    error: str | None = None

    @property
    def wait_s(self) -> float | None:
        """The longer of the oldest job's age and Horizon's estimate, where known."""
        known = [v for v in (self.oldest_pending_age_s, self.estimated_wait_s) if v is not None]
        return max(known) if known else None


class ConnectionHealth(ReportModel):
    connection: str
    environment: str
    endpoint: str = Field(description="host:port/database")
    tls: bool = False
    applications: list[str] = Field(default_factory=list)
    status: Status
    message: str = Field(description="The reason for the status, one line.")
    findings: list[Finding] = Field(default_factory=list)
    duration_ms: float = 0.0
    timings: Timings = Timings()
    server: ServerInfo | None = None
    queues: list[QueueDepth] = Field(default_factory=list)
    previous_status: Status | None = Field(
        default=None, description="Status in the previous run of the history, if any.")

    @property
    def changed(self) -> bool:
        return self.previous_status is not None and self.previous_status is not self.status

    @property
    def backlog(self) -> int | None:
        pending = [q.pending for q in self.queues if q.pending is not None]
        return max(pending) if pending else None


class Transition(ReportModel):
    connection: str
    environment: str
    previous: Status | None = Field(description="None: not in the previous run.")
    current: Status
    message: str


class NotificationResult(ReportModel):
    channel: str
    transitions: int
    delivered: bool
    attempts: int
    error: str | None = None


class HealthReport(ReportModel):
    """One run of `hznctl health`."""

    version: int = REPORT_VERSION
    inventory: str
    started_at: str = Field(description="UTC, RFC 3339.")
    duration_seconds: float
    deadline_seconds: float
    status: Status = Field(description="The worst status of all connections.")
    counts: dict[Status, int]
    connections: list[ConnectionHealth]
    transitions: list[Transition] = Field(default_factory=list)
    history: str | None = Field(default=None, description="The history file, if any.")
    history_problem: str | None = Field(
        default=None, description="Why the history file was not trusted (then it was "
        "ignored, set aside and a new one started).")
    notifications: list[NotificationResult] = Field(default_factory=list)

    def to_json(self) -> str:
        # Fields in model order (stable); pydantic's own serializer is ~10x json.dumps.
        return self.model_dump_json(indent=2) + "\n"


def count_statuses(connections: list[ConnectionHealth]) -> dict[Status, int]:
    counts = dict.fromkeys(STATUS_ORDER, 0)
    for item in connections:
        counts[item.status] += 1
    return counts


def report_schema() -> dict[str, Any]:
    schema = HealthReport.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://hznctl.dev/schemas/health-report.schema.json",
            **schema, "title": "hznctl health report (report.json)"}


def report_schema_text() -> str:
    return json.dumps(report_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
