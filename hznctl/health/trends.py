"""What only the previous run can tell: throughput and new failures per queue.

Throughput is the change of the runtime's counter of finished jobs per minute between the
two runs; a counter that went down was reset (Horizon's snapshot clears it), and then its
value is the count since the reset, as Prometheus' ``rate`` reads a counter. New failures
are graded against the connection's thresholds, and the connection's status, message and
findings are updated with them.
"""

from __future__ import annotations

from datetime import datetime

from hznctl.health.grading import failed_growth, summary
from hznctl.health.history import RunRecord, queue_name
from hznctl.health.model import ConnectionHealth, QueueDepth, worst
from hznctl.models import HealthThresholds


def with_trends(connections: list[ConnectionHealth], previous: RunRecord | None,
                started_at: str, thresholds: dict[str, HealthThresholds]) -> list[ConnectionHealth]:
    if previous is None:
        return connections
    minutes = _minutes(previous.at, started_at)
    return [_connection(c, previous.queues.get(c.connection, {}), minutes,
                        thresholds.get(c.connection, HealthThresholds())) for c in connections]


def _connection(item: ConnectionHealth, before: dict[str, dict[str, float | None]],
                minutes: float | None, t: HealthThresholds) -> ConnectionHealth:
    if not before or not item.queues:
        return item
    queues: list[QueueDepth] = []
    findings = list(item.findings)
    for queue in item.queues:
        was = before.get(queue_name(queue), {})
        throughput = _rate(queue.completed, was.get("completed"), minutes)
        if throughput is not None:
            queue = queue.model_copy(update={"throughput_per_min": throughput})
        failed = was.get("failed")
        finding = failed_growth(queue, None if failed is None else int(failed), t)
        if finding is not None:
            findings.append(finding)
        queues.append(queue)
    update: dict[str, object] = {"queues": queues}
    if len(findings) != len(item.findings) and item.server is not None:
        status = worst([item.status, *[f.status for f in findings]])
        update.update(status=status, findings=findings, message=summary(status, findings))
    return item.model_copy(update=update)


def _rate(now: int | None, before: float | None, minutes: float | None) -> float | None:
    if now is None or before is None or not minutes or minutes <= 0:
        return None
    grown = now - before if now >= before else now
    return round(grown / minutes, 3)


def _minutes(earlier: str, later: str) -> float | None:
    try:
        start = datetime.fromisoformat(earlier.replace("Z", "+00:00"))
        end = datetime.fromisoformat(later.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (end - start).total_seconds() / 60
