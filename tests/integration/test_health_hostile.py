"""`hznctl health` against a hostile RESP server: every misbehaviour gets a bounded, graded
result, and the password — echoed back in several encodings — appears nowhere: not on
stdout or stderr (with HZNCTL_DEBUG), in no report, the history or a notification."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from tests.integration.health_support import (
    App,
    Conn,
    Webhook,
    start_webhook,
    statuses,
    write_inventory,
)
from tests.integration.hostile_resp import HostileServer
from tests.support import make_age_key

pytestmark = pytest.mark.integration

CANARY = "canary-9f3e1b7c5d2a4e6f8a0b"
CHECK_TIMEOUT = 2.0
EXPECTED = {
    "echo": ("error", "authentication refused: ERR unknown command `AUTH`"),
    "echo-encoded": ("error", "authentication refused: WRONGPASS [redacted]"),
    "giant": ("error", "reply too large while reading INFO and queue lengths: a bulk "
                       "string of 838860800 is more than the limit of 1048576"),
    "endless": ("error", "more than 4194304 bytes on one connection"),
    "trickle": ("down", "no answer within 2 s (reading INFO and queue lengths)"),
    "garbage": ("error", "malformed reply while authenticating: not a RESP reply"),
    "long-line": ("error", "reply line is longer than 65536 bytes"),
    "deep": ("error", "nested deeper than 8 levels"),
    "bad-bulk": ("error", "a bulk string does not end where its length says"),
    "wrong-types": ("error", "unexpected reply to INFO: an integer"),
    "redis5": ("ok", ""),  # AUTH with the password alone after the username form fails
    "wrong-lengths": ("error", "malformed reply while waiting for PING: unexpected reply "
                               "to PING: a string"),
}


def canary_forms() -> list[str]:
    raw = CANARY.encode()
    return [CANARY, raw.hex(), raw.hex().upper(), quote(CANARY, safe=""), CANARY[:12]]


def _inventory(tmp_path: Path, port: int, hooks: list[Webhook]) -> tuple[Path, Path]:
    runner = make_age_key(tmp_path / "runner.agekey")
    connections = [Conn(mode, port, CANARY) for mode in EXPECTED]
    apps = [App("shop", "command", "wrong-lengths", ["jobs"])]
    channels = [{"name": "oncall", "type": "slack", "url_plain": hooks[0].url},
                {"name": "events", "type": "webhook", "url_plain": hooks[1].url}]
    root = write_inventory(tmp_path / "inventory", runner, connections, apps,
                           check_timeout=CHECK_TIMEOUT, deadline=10, notifications=channels)
    for mode in EXPECTED:  # the username tells the server how to misbehave
        path = root / "connections" / f"{mode}.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["username"] = mode
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return root, runner.path


def test_a_hostile_server_gets_bounded_graded_results_and_no_leak(tmp_path: Path) -> None:
    server = HostileServer()
    hooks = [start_webhook(), start_webhook()]
    try:
        inventory, identity = _inventory(tmp_path, server.port, hooks)
        out = tmp_path / "out"
        history = tmp_path / "history.jsonl"
        started = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "hznctl", "health", str(inventory), "--out", str(out),
             "--identity", str(identity), "--history", str(history)],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "HZNCTL_DEBUG": "1", "CI": "1"})
        elapsed = time.monotonic() - started
    finally:
        server.close()
        for hook in hooks:
            hook.server.shutdown()
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    report = json.loads((out / "report.json").read_text())
    # The probes within the check timeout; the process (start-up on a busy machine) within
    # the run's deadline and a margin.
    assert report["duration_seconds"] < CHECK_TIMEOUT + 1.5, report["duration_seconds"]
    assert elapsed < 30, f"the run took {elapsed:.2f} s"
    assert statuses(report) == {mode: status for mode, (status, _) in EXPECTED.items()}
    by_name = {c["connection"]: c for c in report["connections"]}
    for mode, (_, message) in EXPECTED.items():
        assert message in by_name[mode]["message"], by_name[mode]
        assert by_name[mode]["duration_ms"] < (CHECK_TIMEOUT + 0.5) * 1000, mode
    assert "[redacted]" in by_name["echo"]["message"]
    # Redis 5 answered the probe's INFO only after the password-alone AUTH it fell back to.
    assert by_name["redis5"]["server"]["version"] == "7.2.0"
    (queue,) = by_name["wrong-lengths"]["queues"]
    assert queue["pending"] is None and "unexpected reply: a string" in queue["error"]
    texts = {"stdout": run.stdout, "stderr": run.stderr, "history": history.read_text()}
    texts |= {path.name: path.read_text() for path in out.iterdir()}
    # The notifications carry the servers' words too: each channel got one message.
    assert [len(hook.received) for hook in hooks] == [1, 1]
    texts |= {f"notification {i}": json.dumps(hook.received) for i, hook in enumerate(hooks)}
    slack = hooks[0].received[0]["body"]["text"]
    assert "[redacted]" in slack and "<" not in slack.split("\n", 1)[1]
    for name, text in texts.items():
        for form in canary_forms():
            assert form not in text, (name, form)
    assert set(server.seen) >= set(EXPECTED)
