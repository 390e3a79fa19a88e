"""`hznctl health serve` as a real process against real redis-servers.

/metrics passes `promtool check metrics` and answers from the last round while Redis is
gone; /probe takes only inventory names; SIGHUP reloads the inventory (a broken one keeps
the previous); the alert rules in docs/ pass `promtool check rules`; SIGTERM stops it.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.health_support import App, Conn, write_inventory
from tests.integration.monitor_support import serve
from tests.support import free_port, make_age_key, wait_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PASSWORD = "pw-serve-91ab"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    return found


def _types(body: bytes) -> list[bytes]:
    return [line for line in body.splitlines() if line.startswith(b"# TYPE ")]


def test_alert_rules_pass_promtool() -> None:
    done = subprocess.run([_promtool(), "check", "rules",
                           str(REPO / "docs" / "monitor" / "hznctl-alerts.rules.yml")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 8 rules found" in done.stdout


def test_serve_metrics_probe_reload_and_redis_failure(tmp_path: Path, redis_factory) -> None:  # type: ignore[no-untyped-def]
    import rq

    promtool = _promtool()
    runner = make_age_key(tmp_path / "runner.agekey")
    server = redis_factory(password=PASSWORD)
    rq.Queue("exports", connection=server.client(db=2)).enqueue("os.getcwd")
    connections = [Conn("redis-a", server.port, PASSWORD, database=2),
                   Conn("redis-gone", free_port(), PASSWORD)]
    inventory = write_inventory(tmp_path / "inventory", runner, connections,
                                [App("reports", "rq", "redis-a", ["exports"])],
                                check_timeout=1, deadline=3)
    served = serve(inventory, "--interval", "0.5", "--identity", str(runner.path),
                   "--no-notify")
    try:
        wait_for(lambda: served.get("/healthz")[0] == 200, timeout=30, what="a first round")
        status, body, _ = served.get("/metrics")
        metrics = body.decode()
        assert status == 200
        assert 'hznctl_redis_up{connection="redis-a",environment="production"} 1' in metrics
        assert 'hznctl_redis_up{connection="redis-gone",environment="production"} 0' in metrics
        assert ('hznctl_redis_queue_length{connection="redis-a",environment="production",'
                'application="reports",queue="exports",state="pending"} 1') in metrics
        assert ('hznctl_redis_queue_workers{connection="redis-a",environment="production",'
                'application="reports",queue="exports"} 0') in metrics
        assert "hznctl_redis_queue_oldest_job_age_seconds{" in metrics
        assert PASSWORD not in metrics
        lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                              timeout=60, check=False)
        assert lint.returncode == 0, (lint.stdout + lint.stderr).decode()
        # Gzipped as Prometheus asks for it: the same families (the age line moves on).
        _, inflated, _ = served.get("/metrics", gzipped=True)
        assert _types(inflated) == _types(body) and len(_types(body)) > 20
        assert 'hznctl_redis_up{connection="redis-a",environment="production"} 1' in \
            inflated.decode()

        status, page, _ = served.get("/")
        assert status == 200 and b'data-connection="redis-a"' in page
        assert served.get("/report.json")[0] == 200

        status, probed, _ = served.get("/probe?target=redis-a")
        assert status == 200
        assert b'hznctl_redis_up{connection="redis-a",environment="production"} 1' in probed
        assert served.get("/probe?target=redis-nope")[0] == 404
        assert served.get("/probe?target=127.0.0.1:6379")[0] == 404  # names, not addresses
        assert served.get("/probe")[0] == 400
        assert served.get("/nothing")[0] == 404

        # SIGHUP: a new connection appears; a broken inventory keeps the one loaded.
        doc = yaml.safe_load((inventory / "connections" / "redis-a.yaml").read_text())
        doc["name"] = "redis-b"
        (inventory / "connections" / "redis-b.yaml").write_text(yaml.safe_dump(doc))
        served.signal(signal.SIGHUP)
        wait_for(lambda: b'connection="redis-b"' in served.get("/metrics")[1], timeout=30,
                 what="the reloaded inventory in /metrics")
        (inventory / "connections" / "redis-c.yaml").write_text("name: [unclosed\n")
        served.signal(signal.SIGHUP)
        wait_for(lambda: b"hznctl_monitor_reload_failed 1" in served.get("/metrics")[1],
                 timeout=30, what="the failed reload")
        assert b'connection="redis-b"' in served.get("/metrics")[1]

        # Redis goes away: rounds go on, /metrics answers at once with the servers down.
        server.stop()
        wait_for(lambda: b'hznctl_redis_up{connection="redis-a",environment="production"} 0'
                 in served.get("/metrics")[1], timeout=30, what="redis-a down in /metrics")
        for _ in range(20):
            status, _, seconds = served.get("/metrics")
            assert status == 200 and seconds < 0.5
        assert served.get("/healthz")[0] == 200
    finally:
        code = served.stop()
    assert code == 0, "".join(served.stderr)
    assert "Traceback" not in "".join(served.stderr)


def test_serve_refuses_a_broken_inventory_with_its_place(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "inventory"
    bad.mkdir()
    (bad / "project.yaml").write_text("name: [unclosed\n")
    result = cli("health", "serve", str(bad), "--listen", "127.0.0.1:0")
    assert result.exit_code == 1
    assert "project.yaml:2:1: invalid YAML" in result.output
    assert "Traceback" not in result.output
    usage = cli("health", "serve", str(bad), "--listen", "nope")
    assert usage.exit_code == 2 and "is not HOST:PORT" in usage.output
