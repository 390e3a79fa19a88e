"""History and notifications: one message when a connection goes down, one when it recovers.

Webhooks are real HTTP servers on loopback; the Redis outage is a real redis-server
stopped and started again on the same port.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.health_support import Conn, start_webhook, statuses, write_inventory
from tests.support import make_age_key, start_redis

pytestmark = pytest.mark.integration
PASSWORD = "pw-notify-91b2"


def test_outage_and_recovery_notify_once_each(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    runner = make_age_key(tmp_path / "runner.agekey")
    server = start_redis(tmp_path, password=PASSWORD)
    slack, webhook, broken = start_webhook(), start_webhook(), start_webhook(fail=True)
    inventory = write_inventory(
        tmp_path / "inventory", runner,
        [Conn("redis-a", server.port, PASSWORD),
         Conn("redis-staging", server.port, PASSWORD, environment="staging")],
        check_timeout=1, notifications=[
            {"name": "oncall", "type": "slack", "url_plain": slack.url,
             "environments": ["production"]},
            {"name": "events", "type": "webhook", "url_plain": webhook.url},
            {"name": "broken", "type": "webhook", "url_plain": broken.url, "retries": 1,
             "timeout": 1},
        ])
    history = tmp_path / "history" / "health.jsonl"
    out = tmp_path / "out"

    def run() -> tuple[int, dict]:  # type: ignore[type-arg]
        result = cli("health", str(inventory), "--out", str(out), "--history", str(history),
                     "--identity", str(runner.path), "--format", "json")
        return result.exit_code, json.loads(result.output)

    try:
        code, report = run()  # first run, all ok: nothing to say
        assert code == 0 and report["transitions"] == [] and not slack.received
        server.stop()
        code, report = run()  # down: one message per channel
        assert code == 1
        assert statuses(report) == {"redis-a": "down", "redis-staging": "down"}
        assert [(t["connection"], t["previous"], t["current"]) for t in report["transitions"]] \
            == [("redis-a", "ok", "down"), ("redis-staging", "ok", "down")]
        assert len(slack.received) == 1 and len(webhook.received) == 1
        text = slack.received[0]["body"]["text"]
        assert "redis-a" in text and "down" in text and "redis-staging" not in text
        events = [t["event"] for t in webhook.received[0]["body"]["transitions"]]
        assert events == ["down", "down"]
        sent = {n["channel"]: n for n in report["notifications"]}
        assert sent["oncall"]["delivered"] and sent["events"]["delivered"]
        assert not sent["broken"]["delivered"] and sent["broken"]["attempts"] == 2
        assert sent["broken"]["error"] == "HTTP 500"
        assert len(broken.received) == 2  # bounded retry, then the run goes on
        code, report = run()  # still down: no new message
        assert report["transitions"] == [] and len(slack.received) == 1
        server = start_redis(tmp_path, password=PASSWORD, port=server.port)
        code, report = run()  # recovered: one message each
        assert code == 0
        assert len(slack.received) == 2 and len(webhook.received) == 2
        assert "recovered" in slack.received[1]["body"]["text"]
        assert [t["event"] for t in webhook.received[1]["body"]["transitions"]] == \
            ["recovered", "recovered"]
    finally:
        server.stop()
        for hook in (slack, webhook, broken):
            hook.server.shutdown()

    lines = history.read_text().splitlines()
    assert len(lines) == 4
    assert [json.loads(line)["status"] for line in lines] == ["ok", "down", "down", "ok"]
    html = (out / "index.html").read_text()
    assert "4 run(s)" in html
    # No password and no webhook URL (its path is the credential) in any file or message.
    for path in [*out.iterdir(), history]:
        content = path.read_text()
        assert PASSWORD not in content and "s3cret-token" not in content, path
    for hook in (slack, webhook):
        for message in hook.received:
            assert PASSWORD not in json.dumps(message)


def test_a_dead_webhook_does_not_break_the_run(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    from tests.support import free_port

    runner = make_age_key(tmp_path / "runner.agekey")
    dead_url = f"http://127.0.0.1:{free_port()}/hook/s3cret-token"
    inventory = write_inventory(
        tmp_path / "inventory", runner, [Conn("redis-gone", free_port(), PASSWORD)],
        check_timeout=1, notifications=[{"name": "dead", "type": "slack",
                                         "url_plain": dead_url, "retries": 2, "timeout": 1}])
    result = cli("health", str(inventory), "--out", str(tmp_path / "out"), "--history",
                 str(tmp_path / "h.jsonl"), "--identity", str(runner.path))
    assert result.exit_code == 1
    assert "notified dead: 1 change(s), not sent (not delivered:" in result.output
    assert "s3cret-token" not in result.output
    for name in ("report.json", "junit.xml", "summary.md", "metrics.prom", "index.html"):
        assert (tmp_path / "out" / name).is_file()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["notifications"][0]["attempts"] == 3
