"""A history that does not pass its schema is reported, set aside and never trusted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.health_support import Conn, write_inventory
from tests.support import free_port, make_age_key

pytestmark = pytest.mark.integration


def test_a_forged_history_cannot_suppress_an_outage(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    runner = make_age_key(tmp_path / "runner.agekey")
    inventory = write_inventory(tmp_path / "inventory", runner,
                                [Conn("redis-gone", free_port(), "pw-trust-5e2a")],
                                check_timeout=1)
    history = tmp_path / "health.jsonl"
    # "It was already down": no transition, so no notification, if this were believed.
    forged = {"version": 1, "at": "2026-01-01T00:00:00Z", "status": "down", "injected": 1,
              "connections": {"redis-gone": {"status": "down"}}}
    history.write_text(json.dumps(forged) + "\n")
    result = cli("health", str(inventory), "--out", str(tmp_path / "out"), "--history",
                 str(history), "--identity", str(runner.path), "--format", "json")
    report = json.loads(result.stdout)
    assert report["history_problem"] == (f"the history {history} is not trusted: line 1 is "
                                         "not a run record")
    assert "hznctl: warning: the history" in result.stderr
    assert [(t["connection"], t["previous"], t["current"]) for t in report["transitions"]] \
        == [("redis-gone", None, "down")]
    assert json.loads((tmp_path / "health.jsonl.rejected").read_text()) == forged
    assert [json.loads(line)["status"] for line in history.read_text().splitlines()] == ["down"]
    assert "History ignored" in (tmp_path / "out" / "summary.md").read_text()
