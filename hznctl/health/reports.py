"""The report files: report.json, junit.xml, summary.md, metrics.prom and index.html.

Each is rendered from the ``HealthReport`` value and written atomically; a reader (a CI
artifact upload, node_exporter's textfile collector) never sees half a file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

from hznctl.atomic import write_text
from hznctl.errors import HznctlError
from hznctl.escape import markdown_code, prometheus_help, prometheus_label, xml_text
from hznctl.health.history import RunRecord
from hznctl.health.html import render_html
from hznctl.health.model import STATUS_ORDER, ConnectionHealth, HealthReport, QueueDepth, Status

REPORT_FILES = ("report.json", "junit.xml", "summary.md", "metrics.prom", "index.html")
ICON = {Status.OK: "🟢", Status.WARNING: "🟡", Status.CRITICAL: "🟠", Status.DOWN: "🔴",
        Status.ERROR: "⛔"}


def write_reports(out: Path, report: HealthReport, runs: list[RunRecord]) -> list[Path]:
    renderers: dict[str, Callable[[], str]] = {
        "report.json": report.to_json,
        "junit.xml": lambda: render_junit(report),
        "summary.md": lambda: render_markdown(report),
        "metrics.prom": lambda: render_prometheus(report),
        "index.html": lambda: render_html(report, runs),
    }
    written = []
    for name in REPORT_FILES:
        path = out / name
        try:
            write_text(path, renderers[name]())
        except OSError as exc:
            raise HznctlError(f"cannot write {path}: {exc.strerror}") from None
        written.append(path)
    return written


# --- JUnit ------------------------------------------------------------------------------

def render_junit(report: HealthReport) -> str:
    """One testcase per connection: critical and down fail, error errs, the rest pass."""
    failures = sum(report.counts[s] for s in (Status.CRITICAL, Status.DOWN))
    errors = report.counts[Status.ERROR]
    attrs = {"name": "hznctl health", "tests": str(len(report.connections)),
             "failures": str(failures), "errors": str(errors), "skipped": "0",
             "time": f"{report.duration_seconds:.3f}"}
    suites = ET.Element("testsuites", attrs)
    suite = ET.SubElement(suites, "testsuite", {**attrs, "timestamp": report.started_at})
    for item in report.connections:
        suite.append(_testcase(item))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def _testcase(item: ConnectionHealth) -> ET.Element:
    case = ET.Element("testcase", {"classname": f"health.{xml_text(item.environment)}",
                                   "name": xml_text(item.connection),
                                   "time": f"{item.duration_ms / 1000:.3f}"})
    message = xml_text(item.message)
    detail = "\n".join(f"[{f.status.value}] {xml_text(f.check)}: {xml_text(f.message)}"
                       for f in item.findings)
    if item.status in (Status.CRITICAL, Status.DOWN):
        failure = ET.SubElement(case, "failure", {"type": item.status.value,
                                                  "message": message})
        failure.text = detail
    elif item.status is Status.ERROR:
        error = ET.SubElement(case, "error", {"type": item.status.value, "message": message})
        error.text = detail
    out = ET.SubElement(case, "system-out")
    out.text = f"{item.status.value}: {message}\nendpoint: {xml_text(item.endpoint)}\n" + detail
    return case


# --- Markdown ---------------------------------------------------------------------------

def render_markdown(report: HealthReport) -> str:
    counts = ", ".join(f"{report.counts[s]} {s.value}" for s in STATUS_ORDER if report.counts[s])
    lines = [f"## {ICON[report.status]} Redis health: {report.status.value}", "",
             f"{len(report.connections)} connection(s): {counts or 'none'} — "
             f"{report.duration_seconds:.2f} s, {report.started_at}", ""]
    if report.history_problem is not None:
        lines += [f"History ignored: {markdown_code(report.history_problem)}", ""]
    if report.transitions:
        lines += ["### Changes since the previous run", ""]
        lines += [f"- **{markdown_code(t.connection)}** ({markdown_code(t.environment)}): "
                  f"{t.previous.value if t.previous else 'new'} → {t.current.value} — "
                  f"{markdown_code(t.message)}" for t in report.transitions]
        lines.append("")
    lines += ["| | Connection | Environment | Applications | Latency p50 / max | Memory | "
              "Clients | Backlog | Message |", "|---|---|---|---|---|---|---|---|---|"]
    for item in sorted(report.connections, key=_worst_first):
        lines.append("| " + " | ".join([
            ICON[item.status], _cell(item.connection), _cell(item.environment),
            ", ".join(map(_cell, item.applications)) or "—", _latency(item), _memory(item),
            _clients(item), _number(item.backlog), _cell(item.message)]) + " |")
    lines += _queue_lines(report)
    for note in report.notifications:
        state = "sent" if note.delivered else f"failed: {markdown_code(note.error or '')}"
        lines.append(f"\nNotification channel {markdown_code(note.channel)}: "
                     f"{note.transitions} change(s), {state}")
    return "\n".join(lines) + "\n"


MARKDOWN_QUEUES = 50  # rows in summary.md; the longest waits and deepest queues first


def _queue_lines(report: HealthReport) -> list[str]:
    items = [(q, c) for c in report.connections for q in c.queues]
    if not items:
        return []
    items.sort(key=lambda i: (-(i[0].wait_s or -1), -(i[0].pending or -1), i[0].application,
                              i[0].queue, i[1].connection))
    lines = ["", f"### Queues ({len(items)})", "",
             "| Application / queue | Connection | Waiting | Delayed | Reserved | Failed | "
             "Oldest job | Estimated wait | Workers |", "|---|---|---|---|---|---|---|---|---|"]
    for q, c in items[:MARKDOWN_QUEUES]:
        lines.append("| " + " | ".join([
            _cell(f"{q.application}/{q.queue}"), _cell(c.connection),
            _number(q.pending), _number(q.delayed), _number(q.reserved), _number(q.failed),
            _seconds(q.oldest_pending_age_s), _seconds(q.estimated_wait_s),
            _number(q.workers)]) + " |")
    if len(items) > MARKDOWN_QUEUES:
        lines.append(f"\n… and {len(items) - MARKDOWN_QUEUES} more queue(s) in report.json")
    return lines


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} s"


def _worst_first(item: ConnectionHealth) -> tuple[int, str]:
    return (-STATUS_ORDER.index(item.status), item.connection)


def _cell(text: str) -> str:
    return markdown_code(text, table=True) or "—"


def _number(value: float | None, suffix: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:g}{suffix}" if isinstance(value, float) else f"{value}{suffix}"


def _latency(item: ConnectionHealth) -> str:
    t = item.timings
    if t.latency_p50_ms is None:
        return "—"
    return f"{t.latency_p50_ms:.2f} / {t.latency_max_ms or 0:.2f} ms"


def _memory(item: ConnectionHealth) -> str:
    server = item.server
    if server is None or server.used_memory is None:
        return "—"
    used = f"{server.used_memory / 1048576:.1f} MiB"
    return f"{used} ({server.memory_percent:.0f}%)" if server.memory_percent is not None else used


def _clients(item: ConnectionHealth) -> str:
    server = item.server
    if server is None or server.connected_clients is None:
        return "—"
    if server.maxclients:
        return f"{server.connected_clients} / {server.maxclients}"
    return str(server.connected_clients)


# --- Prometheus -------------------------------------------------------------------------

Sample = tuple[str, float]  # (rendered label pairs, value)
_METRICS: list[tuple[str, str, str]] = [
    ("hznctl_redis_up", "gauge", "1 when the connection answered the probe, else 0."),
    ("hznctl_redis_status", "gauge", "1 for the connection's current status."),
    ("hznctl_redis_probe_duration_seconds", "gauge", "Time the whole probe took."),
    ("hznctl_redis_connect_seconds", "gauge", "TCP (and TLS) connect time."),
    ("hznctl_redis_auth_seconds", "gauge", "AUTH round trip time."),
    ("hznctl_redis_latency_seconds", "gauge", "PING round trip, p50 and max of the samples."),
    ("hznctl_redis_instance_info", "gauge", "Server version and role."),
    ("hznctl_redis_uptime_in_seconds", "gauge", "Server uptime."),
    ("hznctl_redis_memory_used_bytes", "gauge", "used_memory."),
    ("hznctl_redis_memory_max_bytes", "gauge", "maxmemory (0: no limit)."),
    ("hznctl_redis_mem_fragmentation_ratio", "gauge", "mem_fragmentation_ratio."),
    ("hznctl_redis_connected_clients", "gauge", "connected_clients."),
    ("hznctl_redis_blocked_clients", "gauge", "blocked_clients."),
    ("hznctl_redis_config_maxclients", "gauge", "maxclients (when CONFIG GET is allowed)."),
    ("hznctl_redis_rejected_connections_total", "counter", "Connections rejected (maxclients)."),
    ("hznctl_redis_evicted_keys_total", "counter", "Keys evicted (maxmemory)."),
    ("hznctl_redis_keyspace_hits_total", "counter", "Successful key lookups."),
    ("hznctl_redis_keyspace_misses_total", "counter", "Failed key lookups."),
    ("hznctl_redis_db_keys", "gauge", "Keys per database."),
    ("hznctl_redis_queue_length", "gauge", "Jobs in a queue, by state (pending, delayed, "
                                            "reserved)."),
    ("hznctl_redis_queue_failed_jobs", "gauge", "Failed jobs the runtime keeps in Redis "
                                                "(Horizon: the application's, on each queue)."),
    ("hznctl_redis_queue_oldest_job_age_seconds", "gauge", "Age of the oldest waiting job, "
                                                           "from its payload's time."),
    ("hznctl_redis_queue_estimated_wait_seconds", "gauge", "Horizon's estimate: waiting × "
                                                           "average runtime ÷ processes."),
    ("hznctl_redis_queue_throughput_jobs_per_minute", "gauge", "Jobs finished per minute "
                                                               "since the previous round."),
    ("hznctl_redis_queue_workers", "gauge", "Workers or processes registered for the queue."),
    ("hznctl_health_connections", "gauge", "Connections by status in this run."),
    ("hznctl_health_run_duration_seconds", "gauge", "Time the whole health run took."),
    ("hznctl_health_last_run_timestamp_seconds", "gauge", "When the run started (Unix time)."),
]


def render_prometheus(report: HealthReport) -> str:
    """Prometheus text format 0.0.4 for node_exporter's textfile collector."""
    samples: dict[str, list[Sample]] = {name: [] for name, _, _ in _METRICS}
    for item in report.connections:
        for name, labels, value in _connection_samples(item):
            samples[name].append((labels, value))
    for status in STATUS_ORDER:
        samples["hznctl_health_connections"].append((_labels({"status": status.value}),
                                                     report.counts[status]))
    samples["hznctl_health_run_duration_seconds"].append(("", report.duration_seconds))
    samples["hznctl_health_last_run_timestamp_seconds"].append(("", _unix(report.started_at)))
    lines = []
    for name, kind, help_text in _METRICS:
        if not samples[name]:
            continue
        lines += [f"# HELP {name} {prometheus_help(help_text)}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{{{labels}}} {_value(value)}" if labels else
                  f"{name} {_value(value)}" for labels, value in samples[name]]
    return "\n".join(lines) + "\n"


def _connection_samples(item: ConnectionHealth) -> Iterator[tuple[str, str, float]]:
    # Label pairs rendered once per connection: 30,000 lines at a thousand connections.
    base = _labels({"connection": item.connection, "environment": item.environment})
    yield "hznctl_redis_up", base, 0.0 if item.status in (Status.DOWN, Status.ERROR) or \
        item.server is None else 1.0
    for status in STATUS_ORDER:
        yield "hznctl_redis_status", f'{base},status="{status.value}"', \
            float(item.status is status)
    yield "hznctl_redis_probe_duration_seconds", base, item.duration_ms / 1000
    t = item.timings
    for name, value in (("hznctl_redis_connect_seconds", t.connect_ms),
                        ("hznctl_redis_auth_seconds", t.auth_ms)):
        if value is not None:
            yield name, base, value / 1000
    for stat, value in (("p50", t.latency_p50_ms), ("max", t.latency_max_ms)):
        if value is not None:
            yield "hznctl_redis_latency_seconds", f'{base},stat="{stat}"', value / 1000
    if item.server is not None:
        yield from _server_samples(item, base)
    for queue in item.queues:
        labels = base + "," + _labels({"application": queue.application,
                                       "queue": queue.queue})
        for state in ("pending", "delayed", "reserved"):
            depth = getattr(queue, state)
            if depth is not None:
                yield "hznctl_redis_queue_length", f'{labels},state="{state}"', float(depth)
        for name, value in _queue_figures(queue):
            if value is not None:
                yield name, labels, float(value)


def _queue_figures(queue: QueueDepth) -> tuple[tuple[str, float | None], ...]:
    return (("hznctl_redis_queue_failed_jobs", queue.failed),
            ("hznctl_redis_queue_oldest_job_age_seconds", queue.oldest_pending_age_s),
            ("hznctl_redis_queue_estimated_wait_seconds", queue.estimated_wait_s),
            ("hznctl_redis_queue_throughput_jobs_per_minute", queue.throughput_per_min),
            ("hznctl_redis_queue_workers", queue.workers))


def _server_samples(item: ConnectionHealth, base: str) -> Iterator[tuple[str, str, float]]:
    s = item.server
    assert s is not None
    yield "hznctl_redis_instance_info", base + "," + _labels({
        "redis_version": s.version or "", "role": s.role or ""}), 1.0
    plain = [("hznctl_redis_uptime_in_seconds", s.uptime_seconds),
             ("hznctl_redis_memory_used_bytes", s.used_memory),
             ("hznctl_redis_memory_max_bytes", s.maxmemory),
             ("hznctl_redis_mem_fragmentation_ratio", s.fragmentation_ratio),
             ("hznctl_redis_connected_clients", s.connected_clients),
             ("hznctl_redis_blocked_clients", s.blocked_clients),
             ("hznctl_redis_config_maxclients", s.maxclients),
             ("hznctl_redis_rejected_connections_total", s.rejected_connections),
             ("hznctl_redis_evicted_keys_total", s.evicted_keys),
             ("hznctl_redis_keyspace_hits_total", s.keyspace_hits),
             ("hznctl_redis_keyspace_misses_total", s.keyspace_misses)]
    for name, value in plain:
        if value is not None:
            yield name, base, float(value)
    for db, keys in s.keys_per_db.items():
        yield "hznctl_redis_db_keys", f'{base},db="{prometheus_label(db)}"', float(keys)


def _labels(labels: dict[str, str]) -> str:
    """Label pairs without the braces: ``a="1",b="2"``."""
    return ",".join(f'{k}="{prometheus_label(v)}"' for k, v in labels.items())


def _value(value: float) -> str:
    # 12 significant digits: a measurement (latency in seconds from milliseconds, a ratio)
    # has fewer, and the float arithmetic that made it leaves noise in the 17th
    # (0.0023020000000000002 is 0.002302).
    number = float(value)
    return str(int(number)) if number.is_integer() else format(number, ".12g")


def _unix(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
