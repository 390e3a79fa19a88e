"""QueueInspection without a server: bounded commands, read-only, two round trips at most."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from hznctl.health.keyschemes import horizon_default_prefix, queue_scheme
from hznctl.health.queues import MAX_SUPERVISORS, QueueInspection
from hznctl.models import Runtime

READ_ONLY = {"TIME", "LLEN", "LINDEX", "ZCARD", "SCARD", "HMGET", "HGET", "ZRANGE"}


def _schemes(count: int) -> list:  # type: ignore[type-arg]
    runtimes = [Runtime.RQ, Runtime.CELERY, Runtime.LARAVEL_QUEUE, Runtime.LARAVEL_HORIZON,
                Runtime.COMMAND]
    return [queue_scheme(runtimes[i % 5], f"q{i}", "app_", "app_horizon:")
            for i in range(count)]


def test_twenty_queues_cost_one_pipelined_batch_and_one_follow_up() -> None:
    inspection = QueueInspection(_schemes(20))
    first = inspection.first()
    assert {c[0] for c in first} <= READ_ONLY
    replies: list[object] = []
    for command in first:
        if command[0] == "TIME":
            replies.append([b"1000", b"0"])
        elif command[0] == "ZRANGE":
            replies.append([f"s{i}".encode() for i in range(MAX_SUPERVISORS)])
        elif command[0] == "LINDEX":
            replies.append(b"job-id")
        elif command[0] == "HMGET":
            replies.append([b"100", b"7"])
        else:
            replies.append(3)
    second = inspection.second(replies)
    assert {c[0] for c in second} <= READ_ONLY
    # One job hash per RQ queue and one hash per Horizon supervisor, however many exist.
    assert len(second) == 4 + MAX_SUPERVISORS
    stats = inspection.stats([json.dumps({"redis:q3": 2}).encode()] * len(second))
    horizon = stats[3]
    assert (horizon.workers, horizon.waiting) == (2 * MAX_SUPERVISORS, 3)
    assert horizon.estimated_wait_s == round(3 * 100 / (2 * MAX_SUPERVISORS) / 1000)
    assert stats[1].waiting == 12  # Celery: four priority lists of 3


def test_error_replies_make_figures_unknown_not_zero() -> None:
    scheme = queue_scheme(Runtime.CELERY, "index")
    inspection = QueueInspection([scheme])
    first = inspection.first()
    replies: list[object] = [[b"10", b"0"]] + [
        Exception("WRONGTYPE") if c == ("LLEN", "index\x06\x163") else 1 if c[0] == "LLEN"
        else None for c in first[1:]]
    assert inspection.second(replies) == []
    stats = inspection.stats([])[0]
    assert stats.waiting is None and stats.errors


def test_horizon_default_prefix_is_horizons() -> None:
    assert horizon_default_prefix("Laravel") == "laravel_horizon:"
    assert horizon_default_prefix("My Shop-2") == "my_shop_2_horizon:"


@given(st.lists(st.one_of(st.none(), st.integers(), st.binary(max_size=64),
                          st.text(max_size=64), st.lists(st.binary(max_size=8), max_size=3)),
                min_size=0, max_size=80))
def test_any_replies_from_a_hostile_server_parse_without_raising(values: list) -> None:  # type: ignore[type-arg]
    inspection = QueueInspection(_schemes(5))
    first = inspection.first()
    replies = (values + [None] * len(first))[:len(first)]
    second = inspection.second(replies)
    assert len(second) <= 1 + MAX_SUPERVISORS
    stats = inspection.stats((values + [None] * len(second))[:len(second)])
    assert len(stats) == 5
    for item in stats:
        assert item.oldest_pending_age_s is None or item.oldest_pending_age_s >= 0


def test_throughput_reads_a_reset_counter_like_prometheus_rate() -> None:
    from hznctl.health.trends import _rate

    assert _rate(140, 100, 2.0) == 20.0
    assert _rate(30, 100, 2.0) == 15.0  # Horizon's snapshot cleared it: 30 since then
    assert _rate(None, 100, 2.0) is None and _rate(5, None, 2.0) is None
    assert _rate(5, 1, 0.0) is None
