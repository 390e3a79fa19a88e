"""Queue figures from jobs made by the runtimes' own clients in a real redis-server.

RQ (``rq.Queue.enqueue``, ``enqueue_in``, a failing job run by ``rq.SimpleWorker``,
``Worker.register_birth``), Celery through kombu with priorities (``send_task`` with
``priority`` and ``eta``: kombu/transport/redis.py ``_put``, ``_q_for_pri``), Laravel's
queue from Debian's php-laravel-framework (``push``, ``later``, ``pop``: RedisQueue.php)
and Horizon's payloads (``pushedAt``) and bookkeeping keys: every count and age in
report.json matches what was made.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.health_support import App, Conn, write_inventory
from tests.support import make_age_key

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent


def _run(tmp_path: Path, cli, conns: list[Conn], apps: list[App],  # type: ignore[no-untyped-def]
         name: str = "out", history: Path | None = None) -> dict[str, Any]:
    runner = make_age_key(tmp_path / "runner.agekey")
    inventory = write_inventory(tmp_path / "inventory", runner, conns, apps)
    out = tmp_path / name
    args = ["health", str(inventory), "--out", str(out), "--identity", str(runner.path),
            "--fail-on", "never", "--no-notify"]
    if history is not None:
        args += ["--history", str(history)]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def _queues(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{q['application']}/{q['queue']}": q
            for c in report["connections"] for q in c["queues"]}


def test_rq_waiting_scheduled_failed_workers_and_oldest_age(tmp_path: Path, cli,
                                                            redis_factory) -> None:  # type: ignore[no-untyped-def]
    import rq

    server = redis_factory()
    redis = server.client(db=2)
    exports = rq.Queue("exports", connection=redis)
    first = exports.enqueue("os.getcwd")
    # The oldest job, as if enqueued 5 minutes ago: the age comes from its enqueued_at.
    # Its age grows from here on, through the worker's run below, however long that takes.
    stamped = time.time()
    first.enqueued_at = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=5)
    first.save()
    for _ in range(4):
        exports.enqueue("os.getcwd")
    for minutes in (10, 20, 30):
        exports.enqueue_in(timedelta(minutes=minutes), "os.getcwd")
    failing = rq.Queue("broken", connection=redis)
    for _ in range(2):
        failing.enqueue("os.path.join", 1, 2)  # TypeError in the worker
    rq.SimpleWorker([failing], connection=redis).work(burst=True)
    rq.Worker([exports], connection=redis, name="w-exports").register_birth()

    report = _run(tmp_path, cli, [Conn("rq-redis", server.port, database=2)],
                  [App("reports", "rq", "rq-redis", ["exports", "broken"])])
    queues = _queues(report)
    exp, broken = queues["reports/exports"], queues["reports/broken"]
    assert (exp["pending"], exp["delayed"], exp["failed"], exp["workers"]) == (5, 3, 0, 1)
    assert exp["reserved"] == 0 and exp["failed_scope"] == "queue"
    assert 300 <= exp["oldest_pending_age_s"] <= 300 + (time.time() - stamped) + 1
    assert (broken["pending"], broken["failed"], broken["workers"]) == (0, 2, 0)
    assert broken["oldest_pending_age_s"] is None
    assert exp["estimated_wait_s"] is None and exp["throughput_per_min"] is None
    conn = report["connections"][0]
    # 5 minutes: past wait_warning_s (60 s), before wait_critical_s (600 s).
    assert conn["status"] == "warning"
    assert any(f["check"] == "wait" and "reports/exports" in f["message"]
               for f in conn["findings"])


def test_celery_priorities_add_up_and_a_passed_eta_is_the_age(tmp_path: Path, cli,
                                                               redis_factory) -> None:  # type: ignore[no-untyped-def]
    celery = pytest.importorskip("celery")
    server = redis_factory()
    app = celery.Celery("shop", broker=f"redis://127.0.0.1:{server.port}/3")
    with app.connection_for_write() as connection:
        # The oldest message (the tail: kombu LPUSHes and BRPOPs) was due 5 minutes ago.
        stamped = time.time()
        due = datetime.now(UTC) - timedelta(minutes=5)
        app.send_task("shop.index", queue="index", eta=due, connection=connection)
        for priority, count in ((0, 3), (5, 2), (9, 4)):
            for _ in range(count):
                app.send_task("shop.index", args=(1,), queue="index", priority=priority,
                              connection=connection)
    raw = server.client(db=3)
    # kombu's lists: priority 0 in "index", 5 in step 3's list, 9 in step 9's.
    assert raw.llen("index") == 4 and raw.llen("index\x06\x163") == 2
    assert raw.llen("index\x06\x169") == 4

    report = _run(tmp_path, cli, [Conn("celery-redis", server.port, database=3)],
                  [App("search", "celery", "celery-redis", ["index"])])
    queue = _queues(report)["search/index"]
    assert queue["pending"] == 10
    assert 300 <= queue["oldest_pending_age_s"] <= 300 + (time.time() - stamped) + 1
    assert queue["failed"] is None and queue["workers"] is None


def _php(*args: str) -> None:
    if shutil.which("php") is None or not Path("/usr/share/php/Illuminate/Queue").is_dir():
        pytest.skip("php-cli and php-laravel-framework are not installed")
    done = subprocess.run(["php", str(HERE / "runtimes" / "laravel_queue.php"), *args],
                          capture_output=True, text=True, timeout=60, check=False)
    if "Class \"Redis\" not found" in done.stderr + done.stdout:
        pytest.skip("php-redis is not installed")
    assert done.returncode == 0, done.stderr + done.stdout


def test_laravel_queue_push_delay_reserve(tmp_path: Path, cli, redis_factory) -> None:  # type: ignore[no-untyped-def]
    server = redis_factory()
    _php(str(server.port), "1", "shop_database_", "mail", "7", "3", "2")

    report = _run(tmp_path, cli, [Conn("laravel-redis", server.port, database=1)],
                  [App("shop", "laravel-queue", "laravel-redis", ["mail"],
                       key_prefix="shop_database_")])
    queue = _queues(report)["shop/mail"]
    assert (queue["pending"], queue["delayed"], queue["reserved"]) == (5, 3, 2)
    # Laravel 8 payloads record no time (createdAt came in Laravel 11); failures are in SQL.
    assert queue["oldest_pending_age_s"] is None and queue["failed"] is None
    assert queue["workers"] is None


def test_horizon_payload_age_estimate_processes_and_failed(tmp_path: Path, cli,
                                                           redis_factory) -> None:  # type: ignore[no-untyped-def]
    """Jobs pushed through Laravel's RedisQueue with Horizon's ``pushedAt``; Horizon's
    bookkeeping written as its repositories do (RedisSupervisorRepository::update: a
    ``supervisors`` zset and a ``supervisor:<name>`` hash whose ``processes`` is JSON;
    RedisMetricsRepository: ``queue:<q>`` with ``runtime`` and ``throughput``;
    RedisJobRepository::failed: ``failed_jobs``), as Horizon itself is not packaged."""
    server = redis_factory()
    stamped = time.time()  # the script stamps pushedAt 240 s before its own clock
    _php(str(server.port), "4", "shop_database_", "default", "6", "0", "0", "240")
    redis = server.client(db=4)
    prefix = "shop_horizon:"
    now = time.time()
    redis.zadd(f"{prefix}supervisors", {"host-1:supervisor-1": now, "host-2:supervisor-1": now})
    for host, count in (("host-1", 2), ("host-2", 1)):
        redis.hset(f"{prefix}supervisor:{host}:supervisor-1", mapping={
            "name": f"{host}:supervisor-1",
            "processes": json.dumps({"redis:default": count, "redis:other": 5})})
    redis.hset(f"{prefix}queue:default", mapping={"runtime": "1500", "throughput": "40"})
    redis.zadd(f"{prefix}failed_jobs", {"f1": -now, "f2": -now + 1, "f3": -now + 2})
    history = tmp_path / "history.jsonl"
    apps = [App("shop", "laravel-horizon", "horizon-redis", ["default"],
                key_prefix="shop_database_", extra={"horizon_prefix": prefix})]
    conns = [Conn("horizon-redis", server.port, database=4)]

    first = _queues(_run(tmp_path, cli, conns, apps, "out1", history))["shop/default"]
    assert (first["pending"], first["workers"], first["failed"]) == (6, 3, 3)
    assert first["failed_scope"] == "application"
    assert first["average_runtime_ms"] == 1500 and first["completed"] == 40
    # Horizon's WaitTimeCalculator: 6 jobs × 1.5 s ÷ 3 processes.
    assert first["estimated_wait_s"] == 3
    assert 240 <= first["oldest_pending_age_s"] <= 240 + (time.time() - stamped) + 1

    # Two more failures and 20 more finished jobs before the next run.
    redis.zadd(f"{prefix}failed_jobs", {"f4": -now + 3, "f5": -now + 4})
    redis.hincrby(f"{prefix}queue:default", "throughput", 20)
    lines = history.read_text().splitlines()
    record = json.loads(lines[-1])
    record["at"] = (datetime.now(UTC) - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    history.write_text(json.dumps(record) + "\n")  # the previous run, two minutes ago
    report = _run(tmp_path, cli, conns, apps, "out2", history)
    second = _queues(report)["shop/default"]
    assert second["failed"] == 5
    assert 9.5 <= second["throughput_per_min"] <= 10.1  # 20 jobs in ~2 minutes
    findings = report["connections"][0]["findings"]
    assert any(f["check"] == "failed" and "2 new failed" in f["message"] for f in findings)
