"""`hznctl health` against real redis-servers: every kind of sick server, one run.

Healthy, backlogged (each runtime's key scheme), wrong password, undecryptable password,
closed port, SIGSTOPped server, a socket that never answers, a server blocked by
DEBUG SLEEP and one whose maxmemory is reached: each gets its status within the deadline.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

# Imported now, not inside the timed run: the slow server must still be asleep when probed.
import hznctl.cli.health
import hznctl.health.run  # noqa: F401
from tests.integration.health_support import App, Conn, black_hole, statuses, write_inventory
from tests.support import free_port, make_age_key, wait_for

pytestmark = pytest.mark.integration

CHECK_TIMEOUT = 2.5
PASSWORD = "pw-healthy-7d1c"


def _seed_backlogs(server) -> None:  # type: ignore[no-untyped-def]
    laravel = server.client(db=1)
    laravel.rpush("shop_database_queues:default", *range(1500))
    laravel.zadd("shop_database_queues:default:delayed", {f"d{i}": i for i in range(3)})
    laravel.zadd("shop_database_queues:default:reserved", {f"r{i}": i for i in range(2)})
    laravel.rpush("shop_database_queues:mail", *range(7))
    server.client(db=2).rpush("rq:queue:exports", *range(12000))
    server.client(db=3).rpush("index", *range(5))
    server.client(db=4).rpush("jobs", *range(2000))


def _fill(server) -> None:  # type: ignore[no-untyped-def]
    import redis

    client = server.client()
    value = b"x" * 10_000
    with pytest.raises(redis.exceptions.ResponseError, match="maxmemory"):
        for i in range(1000):
            client.set(f"fill:{i}", value)


def _block_when_opened(server, seconds: float) -> threading.Thread:  # type: ignore[no-untyped-def]
    """DEBUG SLEEP from a second client as soon as the probe has opened its connection.

    The probe samples PING latency after opening every connection (its INFO pipeline ends
    with SELECT); the hung connections of this run keep that stage ≥ 0.1 s away, and the
    server is asleep by then, so the PINGs wait.
    """
    def block() -> None:
        watcher = server.client()
        wait_for(lambda: "cmd=select" in watcher.execute_command("CLIENT", "LIST").decode(),
                 timeout=10, interval=0.002, what="the probe to open its connection")
        watcher.execute_command("DEBUG", "SLEEP", str(seconds))

    thread = threading.Thread(target=block, daemon=True)
    thread.start()
    return thread


def test_every_kind_of_server_gets_its_status_within_the_deadline(
        tmp_path: Path, cli, redis_factory) -> None:  # type: ignore[no-untyped-def]
    runner = make_age_key(tmp_path / "runner.agekey")
    stranger = make_age_key(tmp_path / "stranger.agekey")
    healthy = redis_factory(password=PASSWORD)
    stopped = redis_factory(password=PASSWORD)
    slow = redis_factory(password=PASSWORD, extra=["--enable-debug-command", "yes"])
    full = redis_factory(extra=["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"])
    hole = black_hole()
    _seed_backlogs(healthy)
    _fill(full)
    # Latency is graded by "slow" alone; on a busy test machine a local PING can take
    # longer than the 50 ms default, which says nothing about the other statuses here.
    calm = {"latency_warning_ms": 1000, "latency_critical_ms": 2000}
    connections = [
        Conn("healthy", healthy.port, PASSWORD, health=calm),
        Conn("backlog-laravel", healthy.port, PASSWORD, database=1, health=calm),
        Conn("backlog-rq", healthy.port, PASSWORD, database=2, health=calm),
        Conn("backlog-celery", healthy.port, PASSWORD, database=3, health=calm),
        Conn("backlog-command", healthy.port, PASSWORD, database=4, health=calm),
        Conn("wrong-password", healthy.port, "not-the-password"),
        Conn("undecryptable", healthy.port, PASSWORD, recipients=[stranger.recipient]),
        Conn("closed-port", free_port(), PASSWORD),
        Conn("stopped", stopped.port, PASSWORD),
        Conn("black-hole", hole.port, PASSWORD),
        Conn("slow", slow.port, PASSWORD, health={"latency_critical_ms": 300}),
        Conn("full", full.port, health=calm),  # no password: probed without AUTH
    ]
    apps = [App("shop", "laravel-queue", "backlog-laravel", ["default", "mail"],
                key_prefix="shop_database_"),
            App("reports", "rq", "backlog-rq", ["exports"]),
            App("indexer", "celery", "backlog-celery", ["index"]),
            App("batch", "command", "backlog-command", ["jobs"])]
    inventory = write_inventory(tmp_path / "inventory", runner, connections, apps,
                                check_timeout=CHECK_TIMEOUT, deadline=10)
    os.kill(stopped.process.pid, signal.SIGSTOP)
    try:
        sleeper = _block_when_opened(slow, 1.0)
        started = time.monotonic()
        result = cli("health", str(inventory), "--out", str(tmp_path / "out"),
                     "--identity", str(runner.path))
        elapsed = time.monotonic() - started
        sleeper.join(5)
        wait_for(lambda: slow.client().ping(), timeout=5, what="the slow server to wake up")
    finally:
        os.kill(stopped.process.pid, signal.SIGCONT)
        hole.close()

    assert result.exit_code == 1, result.output
    assert elapsed < CHECK_TIMEOUT + 1.5, f"the run took {elapsed:.2f} s"
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert statuses(report) == {
        "backlog-celery": "ok", "backlog-command": "warning", "backlog-laravel": "warning",
        "backlog-rq": "critical", "black-hole": "down", "closed-port": "down",
        "full": "critical", "healthy": "ok", "slow": "critical", "stopped": "down",
        "undecryptable": "error", "wrong-password": "error",
    }
    by_name = {c["connection"]: c for c in report["connections"]}
    for name in ("stopped", "black-hole"):
        assert "no answer within 2 s" in by_name[name]["message"]
        assert by_name[name]["duration_ms"] < (CHECK_TIMEOUT + 0.5) * 1000
    assert "unreachable" in by_name["closed-port"]["message"]
    assert "authentication refused" in by_name["wrong-password"]["message"]
    assert "password not decryptable" in by_name["undecryptable"]["message"]
    assert by_name["slow"]["timings"]["latency_max_ms"] > 300  # a PING waited for the sleep
    assert "slowest PING" in by_name["slow"]["message"]
    assert "memory" in by_name["full"]["message"]
    assert by_name["full"]["server"]["memory_percent"] >= 95
    healthy_info = by_name["healthy"]
    assert healthy_info["server"]["version"].startswith("7.")
    assert healthy_info["server"]["keys_per_db"]["db1"] == 4
    assert healthy_info["server"]["maxclients"] == 10000
    assert len(healthy_info["timings"]["latency_samples_ms"]) == 3
    laravel = {q["queue"]: q for q in by_name["backlog-laravel"]["queues"]}
    assert (laravel["default"]["pending"], laravel["default"]["delayed"],
            laravel["default"]["reserved"]) == (1500, 3, 2)
    assert laravel["mail"]["pending"] == 7
    assert by_name["backlog-rq"]["queues"][0]["key"] == "rq:queue:exports"
    assert by_name["backlog-rq"]["queues"][0]["pending"] == 12000
    assert by_name["backlog-celery"]["queues"][0]["pending"] == 5
    assert by_name["backlog-command"]["queues"][0]["pending"] == 2000
    # The text output names every unhealthy connection and never a password.
    assert "black-hole" in result.output and "health: down" in result.output
    for path in (tmp_path / "out").iterdir():
        text = path.read_text()
        assert PASSWORD not in text and "not-the-password" not in text, path


def test_the_run_deadline_cuts_hung_probes_short(tmp_path: Path, cli, redis_factory) -> None:  # type: ignore[no-untyped-def]
    """--deadline below the check timeout: hung probes end at the run's deadline."""
    runner = make_age_key(tmp_path / "runner.agekey")
    healthy = redis_factory(password=PASSWORD)
    hole = black_hole()
    connections = [Conn("healthy", healthy.port, PASSWORD),
                   *(Conn(f"hung-{i}", hole.port, PASSWORD) for i in range(20))]
    inventory = write_inventory(tmp_path / "inventory", runner, connections,
                                check_timeout=5, deadline=30, concurrency=4)
    try:
        started = time.monotonic()
        result = cli("health", str(inventory), "--out", str(tmp_path / "out"),
                     "--identity", str(runner.path), "--deadline", "1", "--format", "json")
        elapsed = time.monotonic() - started
    finally:
        hole.close()
    assert result.exit_code == 1
    assert elapsed < 2.0, f"the run took {elapsed:.2f} s"
    report = json.loads(result.output)
    found = statuses(report)
    assert found.pop("healthy") == "ok"
    # 4 probe slots: the first hung ones ran into the deadline, the rest never started.
    assert set(found.values()) == {"down", "error"}
    messages = {c["message"] for c in report["connections"] if c["status"] == "error"}
    assert all("not probed" in m for m in messages)


def test_a_connection_without_password_is_probed_without_auth(
        tmp_path: Path, cli, redis_factory) -> None:  # type: ignore[no-untyped-def]
    runner = make_age_key(tmp_path / "runner.agekey")
    open_server = redis_factory()
    locked = redis_factory(password=PASSWORD)
    inventory = write_inventory(tmp_path / "inventory", runner, [
        Conn("open", open_server.port), Conn("locked-without-password", locked.port)])
    result = cli("health", str(inventory), "--out", str(tmp_path / "out"),
                 "--format", "json", env={"HZNCTL_AGE_KEY_FILE": "", "SOPS_AGE_KEY_FILE": ""})
    report = json.loads(result.output)
    assert statuses(report) == {"open": "ok", "locked-without-password": "error"}
    assert "requires authentication" in report["connections"][0]["message"]
    assert result.exit_code == 1
    ok = cli("health", str(inventory), "--out", str(tmp_path / "out"), "--connection", "open")
    assert ok.exit_code == 0, ok.output
    assert "health: ok — 1 connection(s): 1 ok" in ok.output
