"""health.yml takes the previous history only from its own scheduled or dispatched runs on
the default branch: the lookup step run against a loopback stand-in for the GitHub API."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.support import REPO

REPOSITORY = "acme/queues"
WORKFLOW = ".github/workflows/health.yml"


def _run(run_id: int, event: str, *, branch: str = "main", repo: str = REPOSITORY,
         path: str = WORKFLOW) -> dict[str, Any]:
    return {"id": run_id, "event": event, "head_branch": branch, "path": path,
            "head_repository": {"full_name": repo}}


# Newest first, as the API lists them; only run 6 may supply the history.
RUNS = [_run(1, "pull_request"), _run(2, "schedule", repo="mallory/queues"),
        _run(3, "workflow_dispatch", branch="feature"), _run(4, "push"),
        _run(5, "schedule", path=".github/workflows/other.yml"), _run(6, "schedule"),
        _run(7, "schedule")]


def _api() -> tuple[ThreadingHTTPServer, list[str]]:
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            asked.append(self.path)
            if url.path == f"/repos/{REPOSITORY}/actions/workflows/health.yml/runs":
                assert parse_qs(url.query)["branch"] == ["main"]
                body: dict[str, Any] = {"workflow_runs": RUNS}
            else:  # /repos/…/actions/runs/<id>/artifacts
                body = {"artifacts": [{"name": "health-history", "expired": False}]}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, asked


def test_the_history_comes_only_from_scheduled_or_dispatched_runs_on_the_default_branch(
        tmp_path: Path) -> None:
    steps = yaml.safe_load((REPO / WORKFLOW).read_text())["jobs"]["health"]["steps"]
    step = next(s for s in steps if s.get("name") == "Find the previous run's history")
    assert step["env"]["DEFAULT_BRANCH"] == "${{ github.event.repository.default_branch }}"
    server, asked = _api()
    output = tmp_path / "output"
    output.touch()
    try:
        subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], check=True, timeout=60,
                       env={**os.environ, "GITHUB_OUTPUT": str(output), "GH_TOKEN": "t",
                            "GITHUB_API_URL": f"http://127.0.0.1:{server.server_address[1]}",
                            "GITHUB_REPOSITORY": REPOSITORY, "DEFAULT_BRANCH": "main",
                            "GITHUB_RUN_ID": "7"})
    finally:
        server.shutdown()
    assert output.read_text() == "run-id=6\n"
    assert [p for p in asked if "/artifacts" in p] == [
        "/repos/acme/queues/actions/runs/6/artifacts?name=health-history"]
