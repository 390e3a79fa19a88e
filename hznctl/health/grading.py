"""Turn a probe's measurements into a status, against the connection's thresholds.

ok, warning and critical grade a server that answered; down means it did not (refused,
unreachable, timed out); error means the runner could not judge it because of
credentials (not decryptable, or refused by the server). They stay distinct all the way
to the reports and notifications.
"""

from __future__ import annotations

from collections.abc import Iterator

from hznctl.health.model import Finding, QueueDepth, ServerInfo, Status, Timings, worst
from hznctl.health.probe import ProbeOutcome
from hznctl.models import HealthThresholds


def grade(outcome: ProbeOutcome, thresholds: HealthThresholds) -> tuple[Status, list[Finding]]:
    if outcome.failure is not None:
        return outcome.failure.status, [outcome.failure]
    findings = [*_latency(outcome.timings, thresholds)]
    if outcome.server is not None:
        findings += _server(outcome.server, thresholds)
    findings += _backlog(outcome.queues, thresholds)
    findings += queue_findings(outcome.queues, thresholds)
    return worst([f.status for f in findings]), findings


def summary(status: Status, findings: list[Finding]) -> str:
    """The one-line reason: the findings at the connection's status, or all is well."""
    relevant = [f.message for f in findings if f.status is status]
    return "; ".join(relevant) if relevant else "all checks passed"


def _level(value: float, warning: float, critical: float | None) -> Status:
    if critical is not None and value >= critical:
        return Status.CRITICAL
    return Status.WARNING if value >= warning else Status.OK


def _latency(timings: Timings, t: HealthThresholds) -> Iterator[Finding]:
    # The slowest PING: Redis runs one command at a time, so one slow reply means every
    # client waited that long. PINGs are sampled with the runner quiet; connect and AUTH
    # happen while hundreds of probes run, so their times are reported, not graded.
    slowest = timings.latency_max_ms
    if slowest is None:
        return
    status = _level(slowest, t.latency_warning_ms, t.latency_critical_ms)
    if status is not Status.OK:
        limit = t.latency_critical_ms if status is Status.CRITICAL else t.latency_warning_ms
        yield Finding(check="latency", status=status,
                      message=f"slowest PING {slowest:.1f} ms ≥ {limit:g} ms "
                              f"(p50 {timings.latency_p50_ms or 0:.2f} ms)")


def _server(info: ServerInfo, t: HealthThresholds) -> Iterator[Finding]:
    if info.memory_percent is not None:
        status = _level(info.memory_percent, t.memory_warning_percent,
                        t.memory_critical_percent)
        if status is not Status.OK:
            yield Finding(check="memory", status=status,
                          message=f"memory {info.memory_percent:.1f}% of maxmemory "
                                  f"({info.used_memory} of {info.maxmemory} bytes)")
    if info.clients_percent is not None:
        status = _level(info.clients_percent, t.clients_warning_percent,
                        t.clients_critical_percent)
        if status is not Status.OK:
            yield Finding(check="clients", status=status,
                          message=f"{info.connected_clients} clients, "
                                  f"{info.clients_percent:.1f}% of maxclients {info.maxclients}")
    if t.rejected_connections_warning and (info.rejected_connections or 0) >= \
            t.rejected_connections_warning:
        yield Finding(check="rejected_connections", status=Status.WARNING,
                      message=f"{info.rejected_connections} connection(s) rejected since start")
    if t.evicted_keys_warning and (info.evicted_keys or 0) >= t.evicted_keys_warning:
        yield Finding(check="evicted_keys", status=Status.WARNING,
                      message=f"{info.evicted_keys} key(s) evicted since start")


def _backlog(queues: list[QueueDepth], t: HealthThresholds) -> Iterator[Finding]:
    for queue in queues:
        if queue.error is not None:
            yield Finding(check="backlog", status=Status.WARNING,
                          message=f"queue {queue.application}/{queue.queue}: {queue.error}")
        if queue.pending is None:
            continue
        status = _level(queue.pending, t.backlog_warning, t.backlog_critical)
        if status is not Status.OK:
            yield Finding(check="backlog", status=status,
                          message=f"queue {queue.application}/{queue.queue} has "
                                  f"{queue.pending} waiting job(s) ({queue.key})")


def queue_findings(queues: list[QueueDepth], t: HealthThresholds) -> Iterator[Finding]:
    """Long waits (Horizon's ``waits``) and queues with work and nobody registered to do it."""
    for queue in queues:
        name = f"{queue.application}/{queue.queue}"
        wait = queue.wait_s
        if wait is not None:
            status = _level(wait, t.wait_warning_s, t.wait_critical_s)
            if status is not Status.OK:
                limit = t.wait_critical_s if status is Status.CRITICAL else t.wait_warning_s
                yield Finding(check="wait", status=status,
                              message=f"queue {name}: jobs wait {_duration(wait)} "
                                      f"(≥ {_duration(limit)})")
        if (t.no_workers != "off" and queue.workers == 0 and queue.pending
                and queue.error is None):
            yield Finding(check="workers", status=Status(t.no_workers),
                          message=f"queue {name}: {queue.pending} waiting job(s) and no "
                                  "worker registered")


def failed_growth(queue: QueueDepth, before: int | None,
                  t: HealthThresholds) -> Finding | None:
    """A finding when the queue's failed jobs grew since the previous run."""
    if queue.failed is None or before is None or queue.failed <= before:
        return None
    grown = queue.failed - before
    if t.failed_growth_critical and grown >= t.failed_growth_critical:
        status = Status.CRITICAL
    elif t.failed_growth_warning and grown >= t.failed_growth_warning:
        status = Status.WARNING
    else:
        return None
    scope = " (all its queues)" if queue.failed_scope == "application" else ""
    return Finding(check="failed", status=status,
                   message=f"queue {queue.application}/{queue.queue}: {grown} new failed "
                           f"job(s){scope} since the previous run, {queue.failed} in all")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
