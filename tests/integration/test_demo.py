"""`hznctl demo` end to end, as a newcomer runs it: a real process that starts redis-servers
and a supervisord, deploys, has real workers run real jobs, writes the health reports, and
leaves nothing behind when interrupted with Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def processes_under(folder: Path) -> set[int]:
    """Processes working in ``folder`` or started with it on their command line."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cwd.startswith(str(folder)) or str(folder) in cmdline:
            found.add(int(entry.name))
    return found


def test_demo_runs_the_whole_loop_and_cleans_up_on_ctrl_c(tmp_path):
    log = tmp_path / "demo.out"
    with log.open("wb") as out:
        # No terminal and no --wait: the demo waits all the same (for Ctrl-C or --keep).
        demo = subprocess.Popen([sys.executable, "-m", "hznctl", "demo"],
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: "Press Ctrl-C" in log.read_text() or demo.poll() is not None,
                 timeout=240, what="the demo to finish its loop")
        output = log.read_text()
        assert demo.poll() is None, output
        workdir = Path(output.split("==> working in ", 1)[1].split("\n", 1)[0])
        assert "11 of 11 jobs run by real workers; health ok" in output
        for command in ("$ hznctl compile inventory --out bundles",
                        "$ hznctl deploy bundles/demo-host", "$ hznctl plan bundles bundles-next",
                        "$ hznctl deploy bundles-next/demo-host", "$ hznctl health inventory"):
            assert command in output
        # A changed worker group: the plan says why, the redeploy restarts only that group.
        assert "~ billing-default: numprocs 2 → 3" in output
        assert "5 of 7 processes kept running through the deploy" in output
        report = json.loads((workdir / "reports/report.json").read_text())
        assert {c["connection"]: c["status"] for c in report["connections"]} == {
            "redis-jobs": "ok", "redis-main": "ok", "redis-reports": "ok"}
        for name in ("index.html", "junit.xml", "summary.md", "metrics.prom"):
            assert (workdir / "reports" / name).is_file()
        record = json.loads((workdir / "state/deploys.jsonl").read_text().splitlines()[-1])
        assert record["result"] == "ok"
        running = processes_under(workdir)
        # 3 redis-servers, supervisord and 8 worker processes at least.
        assert len(running) >= 12, output
        assert b"demo-redis-main-password" not in b"".join(
            Path(f"/proc/{pid}/cmdline").read_bytes() for pid in running
            if Path(f"/proc/{pid}").exists())

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=120) == 130
        assert not workdir.exists()
        said = log.read_text().split("Press Ctrl-C", 1)[1]
        assert ("==> stopped supervisord and its 8 worker process(es); redis-server for "
                "redis-reports (port ") in said, said
        assert f"==> removed {workdir}\n" in said
        wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in running),
                 timeout=30, what="every demo process to be gone")
    finally:
        if demo.poll() is None:  # a failed assertion: still let the demo clean up
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(timeout=120)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()


def test_make_demo_installs_only_what_the_demo_uses():
    """`make demo` needs hznctl, RQ (its workers) and redis-server: not the test tools, not
    the browser the HTML report test uses."""
    recipe = (REPO / "Makefile").read_text().split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "HZNCTL_EXTRAS=demo" in recipe and "HZNCTL_SYSTEM_PACKAGES=redis-server " in recipe
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert extras["demo"] == ["rq>=1.16"]
