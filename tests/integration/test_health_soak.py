"""A soak of `hznctl health serve` on loopback: 1,000 connections to a few real
redis-servers, one of them flapping down and up, for HZNCTL_SOAK_SECONDS (default 20).

Memory stays flat after warm-up, every /metrics scrape is answered within its budget while
rounds run, and every status transition reaches the webhook exactly once, in order.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.health_support import Conn, start_webhook, write_inventory
from tests.integration.monitor_support import serve
from tests.support import make_age_key, start_redis, wait_for

pytestmark = pytest.mark.integration
SECONDS = float(os.environ.get("HZNCTL_SOAK_SECONDS", "20"))
CONNECTIONS = 1000
FLAPPING = 100  # connections on the server that goes down and up
SCRAPE_BUDGET = float(os.environ.get("HZNCTL_SOAK_SCRAPE_BUDGET", "2"))  # s, a busy CI box
GROWTH_KIB = 16 * 1024

CHART_WINDOW = 4


def test_soak_memory_scrapes_and_transitions(tmp_path: Path, redis_factory) -> None:  # type: ignore[no-untyped-def]
    runner = make_age_key(tmp_path / "runner.agekey")
    steady = [redis_factory() for _ in range(2)]
    flapper = redis_factory()
    # Latency is not what this test grades: a loaded runner's PINGs must not flap too.
    calm = {"latency_warning_ms": 5000, "latency_critical_ms": 10000}
    conns = [Conn(f"flap-{i:03d}", flapper.port, database=i % 16, health=calm)
             for i in range(FLAPPING)]
    conns += [Conn(f"conn-{i:04d}", steady[i % 2].port, database=i % 16, health=calm)
              for i in range(CONNECTIONS - FLAPPING)]
    hook = start_webhook()
    inventory = write_inventory(tmp_path / "inventory", runner, conns, check_timeout=1,
                                deadline=5, concurrency=200, notifications=[
                                    {"name": "events", "type": "webhook",
                                     "url_plain": hook.url,
                                     "events": ["warning", "critical", "down", "error",
                                                "recovered"]}])
    # The dashboard's trends keep the last --chart-runs rounds: memory grows until that
    # window is full and must stay flat from then on, which is what is measured.
    served = serve(inventory, "--interval", "1", "--identity", str(runner.path),
                   "--chart-runs", str(CHART_WINDOW))
    scrapes: list[tuple[int, float]] = []
    stop = threading.Event()

    def scrape() -> None:
        while not stop.is_set():
            status, _, seconds = served.get("/metrics", timeout=10, gzipped=True)
            scrapes.append((status, seconds))
            stop.wait(0.05)

    scraper = threading.Thread(target=scrape, daemon=True)
    try:
        wait_for(lambda: served.get("/healthz")[0] == 200, timeout=60, what="a first round")
        scraper.start()

        def rounds() -> int:
            body = served.get("/metrics")[1].decode()
            line = next(x for x in body.splitlines()
                        if x.startswith("hznctl_monitor_rounds_total "))
            return int(line.split()[1])

        warm = rounds()
        wait_for(lambda: rounds() >= warm + CHART_WINDOW + 1, timeout=120,
                 what="warm-up rounds that fill the chart window")
        baseline = served.rss_kib()
        ends = time.monotonic() + SECONDS
        up = True
        while time.monotonic() < ends:
            seen = rounds()
            if up:
                flapper.stop()
            else:
                flapper = start_redis(tmp_path, port=flapper.port)
            up = not up
            wait_for(lambda s=seen: rounds() >= s + 2, timeout=60, what="two rounds")
        if not up:
            flapper = start_redis(tmp_path, port=flapper.port)
        seen = rounds()
        wait_for(lambda: rounds() >= seen + 2, timeout=60, what="the last rounds")
        final_rss = served.rss_kib()


        report: dict[str, Any] = json.loads(served.get("/report.json")[1])
    finally:
        stop.set()
        scraper.join(timeout=15)
        code = served.stop()
        flapper.stop()
    assert code == 0, "".join(served.stderr)

    assert final_rss - baseline < GROWTH_KIB, (baseline, final_rss)
    assert scrapes and all(status == 200 for status, _ in scrapes)
    slowest = max(seconds for _, seconds in scrapes)
    assert slowest < SCRAPE_BUDGET, f"slowest scrape {slowest:.3f} s of {len(scrapes)}"

    # Every transition once, in order: each one starts where the previous one ended.
    notified: dict[str, list[tuple[str | None, str]]] = {}
    for message in hook.received:
        for t in message["body"]["transitions"]:
            notified.setdefault(t["connection"], []).append((t["previous"], t["current"]))
    final = {c["connection"]: c["status"] for c in report["connections"]}
    assert set(notified) <= {c.name for c in conns if c.name.startswith("flap-")}
    assert len(notified) == FLAPPING
    for name, chain in notified.items():
        assert chain[0][0] == "ok", (name, chain)
        for (_, ended), (began, _) in itertools.pairwise(chain):
            assert began == ended, (name, chain)
        assert chain[-1][1] == final[name] == "ok", (name, chain)
        assert len(chain) >= 2
