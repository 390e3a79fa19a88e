"""The report files: JSON (and its committed schema), JUnit, Markdown, Prometheus, HTML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from hznctl.health.history import run_record
from hznctl.health.model import (
    ConnectionHealth,
    Finding,
    HealthReport,
    QueueDepth,
    ServerInfo,
    Status,
    Timings,
    Transition,
    count_statuses,
    report_schema_text,
    worst,
)
from hznctl.health.reports import (
    REPORT_FILES,
    render_junit,
    render_markdown,
    render_prometheus,
    write_reports,
)

REPO = Path(__file__).resolve().parents[2]


def _report() -> HealthReport:
    server = ServerInfo(version="7.0.15", role="master", uptime_seconds=10, used_memory=2048,
                        maxmemory=4096, memory_percent=50.0, fragmentation_ratio=1.5,
                        connected_clients=3, blocked_clients=0, maxclients=100,
                        clients_percent=3.0, rejected_connections=0, evicted_keys=0,
                        keyspace_hits=7, keyspace_misses=1, keys_per_db={"db0": 5})
    timings = Timings(connect_ms=0.5, auth_ms=0.2, latency_samples_ms=[0.1, 0.3, 0.2],
                      latency_p50_ms=0.2, latency_max_ms=0.3)
    queue = QueueDepth(application="shop", runtime="laravel-queue", queue='mail"x',
                       worker_groups=["main"], key='queues:mail"x', pending=4, delayed=1,
                       reserved=0)
    items = [
        ConnectionHealth(connection="redis-a", environment="production", endpoint="h:1/0",
                         applications=["shop"], status=Status.OK, message="all checks passed",
                         timings=timings, server=server, queues=[queue]),
        ConnectionHealth(connection="redis-b", environment="production", endpoint="h:2/0",
                         status=Status.CRITICAL, message="memory 99% | of maxmemory",
                         findings=[Finding(check="memory", status=Status.CRITICAL,
                                           message="memory 99% | of maxmemory")],
                         timings=timings, server=server),
        ConnectionHealth(connection="redis-c", environment="staging", endpoint="h:3/0",
                         status=Status.DOWN, message="unreachable <&>",
                         findings=[Finding(check="connect", status=Status.DOWN,
                                           message="unreachable <&>")]),
        ConnectionHealth(connection="redis-d", environment="staging", endpoint="h:4/0",
                         status=Status.ERROR, message="authentication refused",
                         findings=[Finding(check="auth", status=Status.ERROR,
                                           message="authentication refused")]),
    ]
    return HealthReport(
        inventory="inventory", started_at="2026-11-29T08:00:00Z", duration_seconds=0.42,
        deadline_seconds=10, status=worst([i.status for i in items]),
        counts=count_statuses(items), connections=items,
        transitions=[Transition(connection="redis-c", environment="staging",
                                previous=Status.OK, current=Status.DOWN, message="gone")])


def test_committed_schema_is_current() -> None:
    committed = (REPO / "schemas" / "health-report.schema.json").read_text()
    assert committed == report_schema_text(), (
        "schemas/health-report.schema.json is stale: regenerate it with "
        "`python -c 'from hznctl.health.model import report_schema_text as s; "
        "print(s(), end=\"\")' > schemas/health-report.schema.json`")


def test_report_json_validates_against_its_schema() -> None:
    import jsonschema

    schema = json.loads(report_schema_text())
    jsonschema.validate(json.loads(_report().to_json()), schema)


def test_prometheus_text_parses() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(render_prometheus(_report()))}
    up = {s.labels["connection"]: s.value for s in families["hznctl_redis_up"].samples}
    assert up == {"redis-a": 1, "redis-b": 1, "redis-c": 0, "redis-d": 0}
    queue = [s for s in families["hznctl_redis_queue_length"].samples
             if s.labels["state"] == "pending"]
    assert queue[0].labels["queue"] == 'mail"x' and queue[0].value == 4
    latency = {s.labels["stat"]: s.value for s in families["hznctl_redis_latency_seconds"].samples
               if s.labels["connection"] == "redis-a"}
    assert latency == {"p50": 0.0002, "max": 0.0003}
    # prometheus_client strips the _total suffix from counter family names.
    assert families["hznctl_redis_rejected_connections"].type == "counter"
    statuses = [s for s in families["hznctl_redis_status"].samples if s.value == 1]
    assert {(s.labels["connection"], s.labels["status"]) for s in statuses} == {
        ("redis-a", "ok"), ("redis-b", "critical"), ("redis-c", "down"), ("redis-d", "error")}
    counts = {s.labels["status"]: s.value for s in families["hznctl_health_connections"].samples}
    assert counts["down"] == 1 and counts["ok"] == 1


def test_junit_fails_critical_and_down_and_errs_on_error() -> None:
    root = ET.fromstring(render_junit(_report()))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "2", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["redis-a"].find("failure") is None and cases["redis-a"].find("error") is None
    assert cases["redis-b"].find("failure") is not None
    failure = cases["redis-c"].find("failure")
    assert failure is not None and failure.get("message") == "unreachable <&>"
    assert cases["redis-d"].find("error") is not None


def test_markdown_summary() -> None:
    text = render_markdown(_report())
    assert text.startswith("## 🔴 Redis health: down")
    assert "**`redis-c`** (`staging`): ok → down — `gone`" in text
    assert "`memory 99% \\| of maxmemory`" in text  # a pipe does not break the table
    rows = [line for line in text.splitlines()  # connection rows start with the icon
            if line.startswith("| ") and not line.startswith("| `") and "`redis-" in line]
    assert [r.split("`")[1] for r in rows] == ["redis-d", "redis-c", "redis-b", "redis-a"]


def test_write_reports_writes_the_five_files(tmp_path: Path) -> None:
    report = _report()
    written = write_reports(tmp_path / "out", report, [run_record(report)])
    assert [p.name for p in written] == list(REPORT_FILES)
    html = (tmp_path / "out" / "index.html").read_text()
    assert html.count('<tr class="connection"') == 4
    assert "unreachable &lt;&amp;&gt;" in html
    assert not list((tmp_path / "out").glob(".*.tmp"))


def _with_queue_figures() -> HealthReport:
    report = _report()
    first = report.connections[0]
    queue = first.queues[0].model_copy(update={
        "failed": 3, "failed_scope": "queue", "oldest_pending_age_s": 125.5,
        "estimated_wait_s": 7.0, "throughput_per_min": 2.5, "workers": 0})
    items = [first.model_copy(update={"queues": [queue]}), *report.connections[1:]]
    return report.model_copy(update={"connections": items})


def test_queue_figures_in_every_report() -> None:
    report = _with_queue_figures()
    prom = render_prometheus(report)
    labels = 'connection="redis-a",environment="production",application="shop",queue="mail\\"x"'
    for family, value in (("hznctl_redis_queue_failed_jobs", "3"),
                          ("hznctl_redis_queue_oldest_job_age_seconds", "125.5"),
                          ("hznctl_redis_queue_estimated_wait_seconds", "7"),
                          ("hznctl_redis_queue_throughput_jobs_per_minute", "2.5"),
                          ("hznctl_redis_queue_workers", "0")):
        assert f"# TYPE {family} gauge" in prom
        assert f"{family}{{{labels}}} {value}" in prom
    md = render_markdown(report)
    assert '| `shop/mail"x` | `redis-a` | 4 | 1 | 0 | 3 | 126 s | 7 s | 0 |' in md
    from hznctl.health.html import render_html

    page = render_html(report, [run_record(report)])
    assert 'data-queue="mail&quot;x"' in page and 'data-figure="oldest">2 min<' in page
    assert '<rect class="tick" data-connection="redis-c" data-status="down"' in page
