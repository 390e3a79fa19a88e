"""A probe of a connection with 20 queues costs at most 2 round trips beyond one without
queues (in fact one: the first batch rides on the INFO pipeline), against a real server;
and the INFO pipeline rides on AUTH's write.

Round trips are counted where the probe sends: each ``send`` of the RESP connection is one
write the probe waits on (its replies read) before it sends the next.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hznctl.health.probe import PING_SAMPLES, probe
from hznctl.health.resp import RespConnection
from hznctl.health.targets import Credentials, build_targets, with_credentials
from hznctl.inventory import load_inventory
from hznctl.secrets.decrypt import load_identities
from tests.integration.health_support import App, Conn, write_inventory
from tests.support import make_age_key

pytestmark = pytest.mark.integration


def _sends(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    counted: list[int] = []
    original = RespConnection.send

    def counting(self, commands):  # type: ignore[no-untyped-def]
        counted.append(1)
        return original(self, commands)

    monkeypatch.setattr(RespConnection, "send", counting)
    return counted


def test_twenty_queues_cost_at_most_two_more_round_trips(tmp_path: Path, redis_factory,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import rq

    server = redis_factory(password="round-trip-pw")
    names = [f"q{i:02d}" for i in range(20)]
    for name in names[:10]:
        rq.Queue(name, connection=server.client(db=1)).enqueue("os.getcwd")
    runner = make_age_key(tmp_path / "runner.agekey")
    apps = [App("reports", "rq", "busy", names[:10]),
            App("shop", "laravel-horizon", "busy", names[10:15]),
            App("search", "celery", "busy", names[15:])]
    inventory = write_inventory(tmp_path / "inventory", runner,
                                [Conn("busy", server.port, "round-trip-pw", database=1),
                                 Conn("idle", server.port, "round-trip-pw", database=2)],
                                apps)
    loaded = load_inventory(inventory)
    assert loaded.ok, loaded.diagnostics
    built = build_targets(loaded.inventory, list(loaded.inventory.connections.values()))
    credentials = Credentials(load_identities([runner.path]))
    targets = {t.name: t for t in with_credentials(built, credentials)}
    assert all(t.password == "round-trip-pw" for t in targets.values())
    assert len(targets["busy"].queues) == 20 and not targets["idle"].queues
    counted = _sends(monkeypatch)

    def cost(name: str) -> int:
        counted.clear()
        outcome = asyncio.run(probe(targets[name], 5.0))
        assert outcome.failure is None, outcome.failure
        return len(counted)

    without, with_queues = cost("idle"), cost("busy")
    assert with_queues - without == 1  # the RQ job hashes and Horizon's supervisors
    # AUTH, INFO, CONFIG GET and SELECT in one write; then the PING samples, one by one.
    assert without == 1 + PING_SAMPLES
    outcome = asyncio.run(probe(targets["busy"], 5.0))
    waiting = {q.queue: q.pending for q in outcome.queues}
    assert waiting == {name: int(name in names[:10]) for name in names}
    assert all(q.oldest_pending_age_s is not None for q in outcome.queues[:10])
