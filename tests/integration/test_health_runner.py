"""The runner's worker processes: same results as in one process, bounded by the deadline."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest

from hznctl.health.run import load_for_health, runner_credentials
from hznctl.health.runner import RunSettings, run_probes
from hznctl.health.targets import build_targets, select_connections
from tests.integration.health_support import Conn, black_hole, write_inventory
from tests.support import free_port, make_age_key

pytestmark = pytest.mark.integration
PASSWORD = "pw-runner-0c0c"


def test_sharded_run_matches_one_process_and_keeps_the_deadline(
        tmp_path: Path, redis_factory) -> None:  # type: ignore[no-untyped-def]
    runner = make_age_key(tmp_path / "runner.agekey")
    stranger = make_age_key(tmp_path / "stranger.agekey")
    server = redis_factory(password=PASSWORD)
    hole = black_hole()
    # Latency is not what this compares: a busy test machine's PING may pass 50 ms.
    calm = {"latency_warning_ms": 1000, "latency_critical_ms": 2000}
    connections = [Conn(f"ok-{i}", server.port, PASSWORD, database=i % 16, health=calm)
                   for i in range(12)]
    connections += [Conn("hung", hole.port, PASSWORD), Conn("closed", free_port(), PASSWORD),
                    Conn("wrong", server.port, "nope"),
                    Conn("undecryptable", server.port, PASSWORD,
                         recipients=[stranger.recipient])]
    root = write_inventory(tmp_path / "inventory", runner, connections, check_timeout=1.5)
    inventory = load_for_health(root)
    targets = build_targets(inventory, select_connections(inventory))
    credentials = runner_credentials(runner.path)
    settings = RunSettings(deadline=3, check_timeout=1.5, concurrency=8)
    seen: list[str] = []
    try:
        started = time.monotonic()
        sharded = run_probes(targets, settings, lambda r: seen.append(r.connection),
                             credentials=credentials, workers=3)
        elapsed = time.monotonic() - started
        assert gc.get_freeze_count() == 0  # frozen for the fork only, not for the parent
        single = run_probes(targets, settings, credentials=credentials, workers=1)
    finally:
        hole.close()
    assert elapsed < settings.deadline + 1
    expected = {**{f"ok-{i}": "ok" for i in range(12)}, "hung": "down", "closed": "down",
                "wrong": "error", "undecryptable": "error"}
    assert {r.connection: r.status.value for r in sharded} == expected
    assert {r.connection: r.status.value for r in single} == expected
    assert [r.connection for r in sharded] == [t.name for t in targets]  # input order
    assert sorted(seen) == sorted(expected)  # progress reported once per connection
    assert all(r.server is not None and r.server.keys_per_db is not None
               for r in sharded if r.status.value == "ok")
