"""Pure parts of `hznctl health`: key schemes, grading, INFO parsing, history, events."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hznctl.health.grading import grade
from hznctl.health.history import append_run, read_history, run_record, transitions
from hznctl.health.keyschemes import queue_keys
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
    worst,
)
from hznctl.health.notify import _hide, channel_transitions, event_of
from hznctl.health.probe import ProbeOutcome, parse_info, server_info
from hznctl.models import HealthThresholds, NotificationChannel, Runtime


def test_key_schemes_per_runtime() -> None:
    laravel = queue_keys(Runtime.LARAVEL_HORIZON, "mail", "shop_database_")
    assert [(k.state, k.key, k.type.value) for k in laravel] == [
        ("pending", "shop_database_queues:mail", "list"),
        ("delayed", "shop_database_queues:mail:delayed", "zset"),
        ("reserved", "shop_database_queues:mail:reserved", "zset")]
    assert [k.key for k in queue_keys(Runtime.LARAVEL_QUEUE, "d")] == [
        "queues:d", "queues:d:delayed", "queues:d:reserved"]
    assert [k.key for k in queue_keys(Runtime.RQ, "exports", "ignored_")] == ["rq:queue:exports"]
    assert [k.key for k in queue_keys(Runtime.CELERY, "index")] == ["index"]
    assert [k.key for k in queue_keys(Runtime.COMMAND, "jobs")] == ["jobs"]


def _outcome(**server: object) -> ProbeOutcome:
    timings = Timings(connect_ms=0.2, auth_ms=0.1, latency_samples_ms=[0.1, 0.2, 0.3],
                      latency_p50_ms=0.2, latency_max_ms=0.3)
    return ProbeOutcome(timings, ServerInfo(**server))  # type: ignore[arg-type]


@pytest.mark.parametrize(("server", "expected", "check"), [
    ({}, Status.OK, None),
    ({"memory_percent": 81.0, "used_memory": 81, "maxmemory": 100}, Status.WARNING, "memory"),
    ({"memory_percent": 99.0, "used_memory": 99, "maxmemory": 100}, Status.CRITICAL, "memory"),
    ({"clients_percent": 96.0, "connected_clients": 96, "maxclients": 100}, Status.CRITICAL,
     "clients"),
    ({"rejected_connections": 3}, Status.WARNING, "rejected_connections"),
    ({"evicted_keys": 1}, Status.WARNING, "evicted_keys"),
])
def test_grading_server_figures(server: dict[str, object], expected: Status,
                                check: str | None) -> None:
    status, findings = grade(_outcome(**server), HealthThresholds())
    assert status is expected
    assert [f.check for f in findings] == ([check] if check else [])


def test_grading_latency_backlog_and_failures() -> None:
    slow = ProbeOutcome(Timings(auth_ms=900, latency_samples_ms=[1, 400, 3], latency_p50_ms=3,
                                latency_max_ms=400))
    assert grade(slow, HealthThresholds())[0] is Status.CRITICAL
    assert grade(slow, HealthThresholds(latency_critical_ms=500))[0] is Status.WARNING
    slow_auth_only = ProbeOutcome(Timings(auth_ms=900, latency_samples_ms=[1, 2, 3],
                                          latency_p50_ms=2, latency_max_ms=3))
    assert grade(slow_auth_only, HealthThresholds())[0] is Status.OK
    queues = [QueueDepth(application="a", runtime="rq", queue="q", worker_groups=["w"],
                         key="rq:queue:q", pending=1500)]
    backlog = ProbeOutcome(Timings(), ServerInfo(), queues)
    status, findings = grade(backlog, HealthThresholds())
    assert status is Status.WARNING and "1500 waiting job(s)" in findings[0].message
    assert grade(backlog, HealthThresholds(backlog_warning=10, backlog_critical=100))[0] \
        is Status.CRITICAL
    down = ProbeOutcome(Timings(), failure=Finding(check="connect", status=Status.DOWN,
                                                   message="refused"))
    assert grade(down, HealthThresholds()) == (Status.DOWN, [down.failure])


def test_worst_keeps_down_and_error_apart() -> None:
    assert worst([Status.OK, Status.WARNING]) is Status.WARNING
    assert worst([Status.ERROR, Status.CRITICAL]) is Status.ERROR
    assert worst([Status.ERROR, Status.DOWN]) is Status.DOWN
    assert worst([]) is Status.OK


def test_parse_info_reads_the_fields_and_keyspace() -> None:
    raw = (b"# Server\r\nredis_version:7.2.4\r\nuptime_in_seconds:42\r\n# Clients\r\n"
           b"connected_clients:9\r\nblocked_clients:1\r\n# Memory\r\nused_memory:900\r\n"
           b"used_memory_human:900B\r\nmaxmemory:1000\r\nmem_fragmentation_ratio:1.25\r\n"
           b"# Stats\r\nrejected_connections:0\r\nevicted_keys:2\r\nkeyspace_hits:5\r\n"
           b"keyspace_misses:6\r\n# Replication\r\nrole:slave\r\n# Keyspace\r\n"
           b"db0:keys=12,expires=0,avg_ttl=0\r\ndb3:keys=1,expires=1,avg_ttl=5\r\n")
    info = server_info(parse_info(raw), {"maxclients": b"10"})
    assert info.version == "7.2.4" and info.role == "slave" and info.uptime_seconds == 42
    assert (info.used_memory, info.maxmemory, info.memory_percent) == (900, 1000, 90.0)
    assert info.fragmentation_ratio == 1.25
    assert (info.connected_clients, info.maxclients, info.clients_percent) == (9, 10, 90.0)
    assert (info.evicted_keys, info.keyspace_hits, info.keyspace_misses) == (2, 5, 6)
    assert info.keys_per_db == {"db0": 12, "db3": 1}
    assert server_info(parse_info(b"used_memory:5\r\nmaxmemory:0\r\n"), None).memory_percent \
        is None



# The reference parse_info is held to: every line, scanned by a regex on the decoded text.
_REFERENCE_FIELD = re.compile(
    r"^(redis_version|role|uptime_in_seconds|used_memory|maxmemory|mem_fragmentation_ratio"
    r"|connected_clients|blocked_clients|rejected_connections|evicted_keys|keyspace_hits"
    r"|keyspace_misses):([^\r\n]*)", re.MULTILINE)
_REFERENCE_KEYSPACE = re.compile(r"^(db[0-9]+):keys=([0-9]+)", re.MULTILINE)


def _reference_info(raw: bytes) -> dict[str, object]:
    text = raw.decode("utf-8", "replace")
    info: dict[str, object] = dict(_REFERENCE_FIELD.findall(text))
    for name, keys in _REFERENCE_KEYSPACE.findall(text):
        info[name] = {"keys": keys}
    return info


# Pieces a hostile or odd server could put together: the fields' own names and near
# misses, line ends of every kind, digits, keyspace lines, bytes that are not UTF-8.
_INFO_PIECES = st.sampled_from([
    b"redis_version:", b"role:", b"used_memory:", b"used_memory_rss:", b"maxmemory:",
    b"keyspace_hits:", b"keyspace_misses", b"db", b"db0", b"db12:keys=", b":keys=",
    b"keys=", b"7", b"42", b",expires=0", b"\r\n", b"\n", b"\r", b":", b"#", b" ",
    b"\xe2\x82", b"\xac", b"\xff", b"\xc3\xa9", b"x", b"\x00"])


@settings(max_examples=600, deadline=None)
@given(st.lists(_INFO_PIECES, max_size=40).map(b"".join))
def test_parse_info_agrees_with_a_line_by_line_regex(raw: bytes) -> None:
    assert parse_info(raw) == _reference_info(raw)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_parse_info_agrees_on_any_bytes(raw: bytes) -> None:
    assert parse_info(raw) == _reference_info(raw)


def test_parse_info_agrees_on_a_real_info_reply(redis_factory) -> None:  # type: ignore[no-untyped-def]
    server = redis_factory()
    server.client(db=3).set("k", "v")
    client = server.client()
    client.set_response_callback("INFO", lambda reply, **_: reply)  # the reply's bytes
    raw = client.execute_command("INFO", "everything")
    assert isinstance(raw, bytes)
    assert parse_info(raw) == _reference_info(raw)
    assert parse_info(raw)["redis_version"] and parse_info(raw)["db3"] == {"keys": "1"}


def _health(name: str, status: Status, env: str = "production") -> ConnectionHealth:
    return ConnectionHealth(connection=name, environment=env, endpoint="h:1/0", status=status,
                            message=f"{name} is {status.value}")


def _report(*items: ConnectionHealth, at: str = "2026-01-01T00:00:00Z") -> HealthReport:
    connections = list(items)
    return HealthReport(inventory="inv", started_at=at, duration_seconds=0.1,
                        deadline_seconds=10, status=worst([c.status for c in connections]),
                        counts=count_statuses(connections), connections=connections)


def test_history_appends_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "h" / "health.jsonl"
    append_run(path, _report(_health("a", Status.OK)))
    append_run(path, _report(_health("a", Status.DOWN), at="2026-01-01T00:05:00Z"))
    assert len(path.read_bytes().splitlines()) == 2
    runs = read_history(path)
    assert [r.statuses["a"] for r in runs] == [Status.OK, Status.DOWN]
    assert read_history(tmp_path / "missing.jsonl") == []


def test_transitions_against_the_previous_run() -> None:
    previous = run_record(_report(_health("a", Status.OK), _health("b", Status.DOWN)))
    now = [_health("a", Status.DOWN), _health("b", Status.OK), _health("new-ok", Status.OK),
           _health("new-down", Status.DOWN)]
    found = transitions(now, previous, have_history=True)
    assert [(t.connection, t.previous, t.current) for t in found] == [
        ("a", Status.OK, Status.DOWN), ("b", Status.DOWN, Status.OK),
        ("new-down", None, Status.DOWN)]
    assert transitions(now, None, have_history=False) == []
    assert [t.connection for t in transitions(now, None, have_history=True)] == [
        "a", "new-down"]


def _transition(previous: Status | None, current: Status, env: str = "production",
                name: str = "a") -> Transition:
    return Transition(connection=name, environment=env, previous=previous, current=current,
                      message="m")


def test_events_and_channel_filters() -> None:
    assert event_of(_transition(Status.OK, Status.DOWN)).value == "down"
    assert event_of(_transition(Status.DOWN, Status.OK)).value == "recovered"
    assert event_of(_transition(Status.DOWN, Status.WARNING)).value == "recovered"
    assert event_of(_transition(Status.OK, Status.WARNING)).value == "warning"
    assert event_of(_transition(None, Status.ERROR)).value == "error"
    channel = NotificationChannel.model_validate({
        "name": "oncall", "type": "slack", "url": {"sops": "secrets/n.yaml", "key": "url"},
        "environments": ["production"]})
    chosen = channel_transitions(channel, [
        _transition(Status.OK, Status.DOWN), _transition(Status.OK, Status.WARNING),
        _transition(Status.OK, Status.DOWN, env="staging")])
    assert [(t.environment, t.current) for t in chosen] == [("production", Status.DOWN)]


def test_webhook_urls_are_hidden_in_errors() -> None:
    url = "https://hooks.example.invalid/services/T0/B0/secret-token"
    text = f"<urlopen error {url} refused> /services/T0/B0/secret-token"
    hidden = _hide(text, url)
    assert "secret-token" not in hidden and "<channel URL>" in hidden
