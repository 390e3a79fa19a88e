"""supervisord options operators set (host defaults, a group's own) reach the program file,
read back with supervisor's code, and a real supervisord runs the workers with them:
container logging (/dev/stdout, no rotation), stderr redirected, umask, priority,
startretries, autostart."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.integration.deploy_fixtures import compile_and_deploy
from tests.integration.runtime_apps import runtime_site
from tests.support import wait_for

pytestmark = pytest.mark.integration

WORKER = '''
import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
print("umask", oct(os.umask(0)), flush=True)
print("on stderr", file=sys.stderr, flush=True)
while True:
    time.sleep(1)
'''


@pytest.fixture
def site(tmp_path: Path):
    app = {"slug": "tools", "runtime": "command",
           "command": f"{sys.executable} worker.py", "workers": [
               {"name": "container", "queues": ["q"], "hosts": ["test-host"]},
               {"name": "files", "queues": ["q"], "hosts": ["test-host"],
                "supervisord": {"stdout_logfile": str(tmp_path / "files.log"),
                                "redirect_stderr": True, "umask": "027", "priority": 10,
                                "logfile_maxbytes": "1MB", "logfile_backups": 2}},
               {"name": "manual", "queues": ["q"], "hosts": ["test-host"],
                "supervisord": {"autostart": False}},
           ]}
    yield from runtime_site(tmp_path, app, {"worker.py": WORKER}, program={
        "stdout_logfile": "/dev/stdout", "stderr_logfile": "/dev/stderr",
        "startretries": 5})


def test_program_options_reach_supervisord(cli, site):
    record = compile_and_deploy(cli, site)
    assert record["result"] == "ok"  # the autostart=false group is not waited for
    rpc = site.sup.rpc().supervisor
    config = {c["name"]: c for c in rpc.getAllConfigInfo()}
    container = config["tools-container_00"]
    assert (container["stdout_logfile"], container["stderr_logfile"]) == (
        "/dev/stdout", "/dev/stderr")
    assert (container["stdout_logfile_maxbytes"], container["stdout_logfile_backups"]) == (0, 0)
    assert container["startretries"] == 5  # the host's
    files = config["tools-files_00"]
    assert files["redirect_stderr"] and files["process_prio"] == 10
    assert files["stdout_logfile_maxbytes"] == 1024 * 1024
    assert files["stdout_logfile_backups"] == 2
    assert not config["tools-manual_00"]["autostart"]
    wait_for(lambda: {p["name"]: p["statename"] for p in site.sup.processes()} == {
        "tools-container_00": "RUNNING", "tools-files_00": "RUNNING",
        "tools-manual_00": "STOPPED"}, timeout=30, what="workers as configured")
    log = Path(files["stdout_logfile"])
    wait_for(lambda: "on stderr" in log.read_text(), timeout=20, what="stderr in stdout's log")
    assert "umask 0o27" in log.read_text()
    assert not any(p.name.startswith("tools-files") and p.name.endswith(".err.log")
                   for p in (site.root / "log").glob("*"))
    status = cli("status", "--state-dir", str(site.state))
    assert status.exit_code == 0, status.output  # a STOPPED autostart=false group is no drift
