"""`hznctl health` as a command: exit codes, --fail-on, bad input, progress on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.health_support import App, Conn, write_inventory
from tests.support import free_port, make_age_key

pytestmark = pytest.mark.integration
PASSWORD = "pw-cli-3e3e"


@pytest.fixture
def backlog_inventory(tmp_path: Path, redis_factory) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    runner = make_age_key(tmp_path / "runner.agekey")
    server = redis_factory(password=PASSWORD)
    server.client().rpush("rq:queue:exports", *range(1200))
    inventory = write_inventory(tmp_path / "inventory", runner,
                                [Conn("redis-a", server.port, PASSWORD)],
                                [App("reports", "rq", "redis-a", ["exports"])])
    return inventory, runner.path


def test_fail_on_levels(tmp_path: Path, cli, backlog_inventory) -> None:  # type: ignore[no-untyped-def]
    inventory, identity = backlog_inventory
    base = ["health", str(inventory), "--out", str(tmp_path / "out"), "--identity",
            str(identity)]
    default = cli(*base)
    assert default.exit_code == 0, default.output  # a warning passes by default
    assert "warning  redis-a" in default.output and "1200 waiting job(s)" in default.output
    assert cli(*base, "--fail-on", "warning").exit_code == 1
    assert cli(*base, "--fail-on", "down").exit_code == 0


def test_fail_on_never_and_down(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    runner = make_age_key(tmp_path / "runner.agekey")
    inventory = write_inventory(tmp_path / "inventory", runner,
                                [Conn("redis-gone", free_port())], check_timeout=1)
    base = ["health", str(inventory), "--out", str(tmp_path / "out")]
    assert cli(*base).exit_code == 1
    assert cli(*base, "--fail-on", "down").exit_code == 1
    assert cli(*base, "--fail-on", "never").exit_code == 0


def test_bad_input_exit_codes(tmp_path: Path, cli, backlog_inventory) -> None:  # type: ignore[no-untyped-def]
    inventory, _ = backlog_inventory
    out = tmp_path / "out"
    missing = cli("health", str(inventory), "--out", str(out), "--identity",
                  str(tmp_path / "nope.agekey"))
    assert missing.exit_code == 1
    unknown = cli("health", str(inventory), "--out", str(out), "--connection", "redis-zzz")
    assert unknown.exit_code == 2 and "unknown connection(s): redis-zzz" in unknown.output
    assert cli("health", str(inventory), "--out", str(out), "--environment",
               "nowhere").exit_code == 2
    assert not out.exists()  # nothing written for bad input


def test_bad_input_messages(tmp_path: Path, backlog_inventory) -> None:  # type: ignore[no-untyped-def]
    inventory, _ = backlog_inventory
    result = subprocess.run(
        [sys.executable, "-m", "hznctl", "health", str(inventory), "--out",
         str(tmp_path / "out"), "--identity", str(tmp_path / "nope.agekey")],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "nope.agekey does not exist" in result.stderr and "Traceback" not in result.stderr
    (inventory / "connections" / "redis-a.yaml").write_text(
        (inventory / "connections" / "redis-a.yaml").read_text() + "port_typo: 1\n")
    invalid = subprocess.run(
        [sys.executable, "-m", "hznctl", "health", str(inventory), "--out",
         str(tmp_path / "out")], capture_output=True, text=True, timeout=60, check=False)
    assert invalid.returncode == 1
    assert "connections/redis-a.yaml:" in invalid.stderr and "port_typo" in invalid.stderr


def _run_on_terminal(args: list[str], env: dict[str, str]) -> str:
    main, child = pty.openpty()
    try:
        process = subprocess.Popen(args, stdin=child, stdout=child, stderr=child, env=env)
        os.close(child)
        output = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        process.wait(60)
    finally:
        os.close(main)
    return output.decode("utf-8", "replace")


def test_no_progress_bar_for_a_small_run_or_in_ci(tmp_path: Path, backlog_inventory) -> None:  # type: ignore[no-untyped-def]
    inventory, identity = backlog_inventory
    args = [sys.executable, "-m", "hznctl", "health", str(inventory), "--out",
            str(tmp_path / "out"), "--identity", str(identity)]
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    # One connection is done at once: a bar is for large fleets (tests/acceptance/
    # test_terminal.py shows one for a large compile).
    on_terminal = _run_on_terminal(args, env)
    assert "probing" not in on_terminal and "health: warning" in on_terminal
    in_ci = _run_on_terminal(args, {**env, "CI": "true"})
    assert "probing" not in in_ci and "health: warning" in in_ci
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["status"] == "warning"
