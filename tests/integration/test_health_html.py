"""index.html opened in headless Chromium: it renders, one row per connection, the charts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.health_support import App, Conn, write_inventory
from tests.support import free_port, make_age_key

pytestmark = pytest.mark.integration
PASSWORD = "pw-html-55aa"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("chromium is not installed")


def _headless(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=60, check=False)


def test_html_report_renders_in_chromium(tmp_path: Path, cli, redis_factory) -> None:  # type: ignore[no-untyped-def]
    browser = _chromium()
    runner = make_age_key(tmp_path / "runner.agekey")
    server = redis_factory(password=PASSWORD)
    server.client(db=1).rpush("queues:default", *range(10))
    connections = [Conn("redis-a", server.port, PASSWORD), Conn("redis-b", server.port,
                                                                 PASSWORD, database=1),
                   Conn("redis-gone", free_port(), PASSWORD)]
    apps = [App("shop", "laravel-queue", "redis-b", ["default"]),
            App("legacy", "rq", "redis-gone", ["jobs"])]
    inventory = write_inventory(tmp_path / "inventory", runner, connections, apps,
                                check_timeout=1)
    out, history = tmp_path / "out", tmp_path / "health.jsonl"
    for _ in range(3):  # three runs: the charts have lines, not points
        cli("health", str(inventory), "--out", str(out), "--history", str(history),
            "--identity", str(runner.path))
    page = out / "index.html"
    source = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", source), "external asset"
    assert "<script" not in source

    dom = _headless(browser, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = dom.stdout
    rows = re.findall(r'<tr class="connection" data-connection="([^"]+)" '
                      r'data-status="([^"]+)"', rendered)
    assert rows == [("redis-a", "ok"), ("redis-b", "ok"), ("redis-gone", "down")]
    for chart in ("latency", "memory"):
        match = re.search(rf'<svg class="chart" data-chart="{chart}".*?</svg>', rendered, re.S)
        assert match, chart
        assert match.group(0).count("<polyline") >= 2, chart  # one line per live connection
    assert "3 run(s)" in rendered
    apps = re.findall(r'<tr class="application" data-application="([^"]+)"', rendered)
    assert apps == ["legacy", "shop"]
    # The dashboard: every queue's figures, per-queue trends and the status timeline.
    queues = re.findall(r'<tr class="queue" data-application="([^"]+)" data-queue="([^"]+)" '
                        r'data-connection="([^"]+)">.*?data-figure="pending">([^<]+)<',
                        rendered, re.S)
    assert queues == [("shop", "default", "redis-b", "10")]  # a down server tells nothing
    depth = re.search(r'<svg class="chart" data-chart="depth".*?</svg>', rendered, re.S)
    assert depth and "<polyline" in depth.group(0) and "redis-b shop/default" in depth.group(0)
    assert re.search(r'<svg class="chart" data-chart="oldest"', rendered)
    ticks = re.findall(r'<rect class="tick" data-connection="([^"]+)" data-status="([^"]+)"',
                       rendered)
    assert ticks.count(("redis-gone", "down")) == 3 and ticks.count(("redis-a", "ok")) == 3

    shot = tmp_path / "report.png"
    taken = _headless(browser, tmp_path / "profile", f"--screenshot={shot}",
                      "--window-size=1300,1100", page.as_uri())
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.stat().st_size > 10_000  # a real picture, not a blank page
