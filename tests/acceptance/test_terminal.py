"""Colour and progress bars on a terminal only: a large compile shows a bar on a terminal
(a real pseudo-terminal here), none when piped or in CI; NO_COLOR turns colour off."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest

from benchmarks.generate import generate_inventory
from hznctl.cli.terminal import LARGE_FLEET, colour
from hznctl.pipeline import compile_inventory


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet") / "inventory"
    return generate_inventory(root, applications=20, connections=4, hosts=LARGE_FLEET + 10,
                              workers=40)


@pytest.mark.parametrize("jobs", [1, 3])
def test_compile_reports_every_host_once(fleet, jobs):
    seen = []
    result = compile_inventory(fleet, jobs=jobs, progress=lambda n, total: seen.append((n,
                                                                                          total)))
    assert result.ok
    total = len(result.bundles)
    assert sum(n for n, _ in seen) == total and {t for _, t in seen} == {total}


def _in_a_terminal(args, env):
    """Run hznctl with stdout and stderr on a pseudo-terminal; returns what it wrote."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "hznctl", *args], stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process is gone
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    process.wait(timeout=60)
    os.close(leader)
    return process.returncode, b"".join(chunks).decode("utf-8", "replace")


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR")}
    return {**env, "TERM": "xterm", **extra}


def test_a_large_compile_shows_a_bar_on_a_terminal_only(fleet, tmp_path):
    code, shown = _in_a_terminal(["compile", str(fleet), "--out", str(tmp_path / "a")], _env())
    assert code == 0, shown
    assert "compiling" in shown and f"{LARGE_FLEET + 10}/{LARGE_FLEET + 10}" in shown
    piped = subprocess.run([sys.executable, "-m", "hznctl", "compile", str(fleet), "--out",
                            str(tmp_path / "b")], capture_output=True, text=True, env=_env(),
                           timeout=120, check=False)
    assert piped.returncode == 0 and "compiling" not in piped.stdout + piped.stderr
    code, in_ci = _in_a_terminal(["compile", str(fleet), "--out", str(tmp_path / "c")],
                                 _env(CI="true"))
    assert code == 0 and "compiling" not in in_ci


def test_no_color_and_dumb_terminals_get_no_colour(monkeypatch):
    class Tty:
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert colour(Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not colour(Tty())
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not colour(Tty())


def test_health_colours_a_status_on_a_terminal_unless_no_color(tmp_path):
    """A connection that is down (a closed loopback port): its status is coloured on a
    terminal, and plain with NO_COLOR."""
    from tests.support import free_port

    repo = tmp_path / "repo"
    env = _env()
    for args in (["init", str(repo)],
                 ["new", "connection", "gone", "--host", "127.0.0.1", "--port",
                  str(free_port()), "--environment", "production", "--no-password", "-i",
                  str(repo / "inventory")]):
        done = subprocess.run([sys.executable, "-m", "hznctl", *args], capture_output=True,
                              text=True, env=env, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    health = ["health", str(repo / "inventory"), "--out", str(tmp_path / "r"), "--deadline",
              "5"]
    code, coloured = _in_a_terminal(health, env)
    assert code == 1 and "gone" in coloured and "\x1b[" in coloured, coloured
    code, plain = _in_a_terminal(health, _env(NO_COLOR="1"))
    assert code == 1 and "gone" in plain and "\x1b[" not in plain, plain
