"""`hznctl restart APPLICATION` after a code release, all real: compiled bundles, RQ workers
through `hznctl exec`, redis-server, supervisord.

RQ's worker takes SIGTERM as a warm shutdown: it finishes the job in hand, then exits
(rq/worker.py, `Worker.request_stop`: the first signal sets `_stop_requested` and the work
loop leaves after the current job), so a graceful group stop never loses a job."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from tests.integration.deploy_fixtures import Site, compile_and_deploy, compiled_site
from tests.support import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def site(tmp_path):
    yield from compiled_site(tmp_path)


def _enqueue(site: Site, queue: str, *args: Any) -> Any:
    from rq import Queue

    return Queue(queue, connection=site.redis["redis-a"].client()).enqueue("tasks.slow", *args)


class _Watcher:
    """Snapshots of supervisord's processes (time, name → (state, pid)) while a restart runs."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.seen: list[tuple[float, dict[str, tuple[str, int]]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rpc = self.site.sup.rpc().supervisor
        while not self._stop.is_set():
            procs = rpc.getAllProcessInfo()
            self.seen.append((time.monotonic(), {f"{p['group']}:{p['name']}":
                                                 (p["statename"], p["pid"]) for p in procs}))
            self._stop.wait(0.02)

    def __enter__(self) -> _Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def first(self, condition) -> float:
        return next(t for t, snap in self.seen if condition(snap))


def test_a_release_restarts_one_application_one_group_at_a_time(cli, site):
    compile_and_deploy(cli, site, "--settle", "0")
    wait_for(site.running, timeout=30, what="workers RUNNING")
    before = site.pids()
    conn = site.redis["redis-a"].client()
    # A job in flight on each group, each longer than nothing: the group's stop waits for it.
    jobs = [_enqueue(site, "default", "on-default", 2), _enqueue(site, "slow", "on-slow", 6)]
    wait_for(lambda: conn.llen("slow-started") == 2, timeout=30, what="both jobs started")

    with _Watcher(site) as watch:
        result = cli("restart", "jobs", "--state-dir", str(site.state), "--host", "test-host",
                     "--settle", "0.5", "--format", "json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["command"] == "restart" and record["result"] == "ok"
    assert record["plan"] == {"application": "jobs", "restart": ["jobs-default", "jobs-slow"]}
    assert record["actions"]["restarted"] == ["jobs-default", "jobs-slow"]
    assert json.loads(
        (site.state / "deploys.jsonl").read_text().splitlines()[-1])["command"] == "restart"

    # Every job finished: the stops were graceful.
    assert sorted(conn.lrange("results", 0, -1)) == [b"on-default", b"on-slow"]
    for job in jobs:
        job.refresh()
        assert job.get_status() == "finished"

    after = site.pids()
    assert after["pinger-main:pinger-main_00"] == before["pinger-main:pinger-main_00"]
    assert all(after[k] != before[k] for k in before if k.startswith("jobs-"))

    # One group after the other: jobs-slow's old worker was still RUNNING when every new
    # jobs-default process was RUNNING (and so it stayed through the settle window).
    default = [k for k in before if k.startswith("jobs-default:")]
    slow = "jobs-slow:jobs-slow_00"

    def default_back(snap) -> bool:
        return all(k in snap and snap[k][0] == "RUNNING" and snap[k][1] != before[k]
                   for k in default)

    def slow_leaving(snap) -> bool:
        return snap.get(slow, ("", 0)) != ("RUNNING", before[slow])

    assert watch.first(default_back) + 0.5 <= watch.first(slow_leaving) + 0.05
    # And the pinger was never touched.
    assert all(snap["pinger-main:pinger-main_00"] == ("RUNNING", before[
        "pinger-main:pinger-main_00"]) for _, snap in watch.seen)


def test_a_group_that_does_not_come_back_stops_the_restart(cli, site):
    compile_and_deploy(cli, site, "--settle", "0")
    wait_for(site.running, timeout=30, what="workers RUNNING")
    before = site.pids()
    # The release left no working directory: no new worker can start.
    (site.root / "app").rename(site.root / "app-moved")
    result = cli("restart", "jobs", "--state-dir", str(site.state), "--settle", "0.5",
                 "--format", "json")
    assert result.exit_code == 1
    record = json.loads(result.output.split("\nhznctl: error:")[0])
    assert record["result"] == "failed"
    assert record["actions"]["failed"] == "jobs-default"
    assert record["actions"]["not_restarted"] == ["jobs-slow"]
    assert "jobs-default did not come back" in result.output
    assert "not restarted: jobs-slow" in result.output
    after = site.pids()
    assert after["jobs-slow:jobs-slow_00"] == before["jobs-slow:jobs-slow_00"]
    assert after["pinger-main:pinger-main_00"] == before["pinger-main:pinger-main_00"]


def test_only_the_named_groups_and_clear_refusals(cli, site):
    compile_and_deploy(cli, site, "--settle", "0")
    wait_for(site.running, timeout=30, what="workers RUNNING")
    before = site.pids()
    state = ["--state-dir", str(site.state)]
    result = cli("restart", "jobs", "--group", "slow", *state, "--settle", "0")
    assert result.exit_code == 0, result.output
    assert "restarted: jobs-slow" in result.output and "jobs-default" not in result.output
    after = site.pids()
    assert after["jobs-slow:jobs-slow_00"] != before["jobs-slow:jobs-slow_00"]
    assert {k: after[k] for k in before if not k.startswith("jobs-slow")} == {
        k: v for k, v in before.items() if not k.startswith("jobs-slow")}

    records = (site.state / "deploys.jsonl").read_text()
    for args, message in [
        (["billing"], "application 'billing' runs no worker group on host 'test-host' "
                      "(applications here: jobs, pinger)"),
        (["jobs", "--group", "nope"], "application 'jobs' has no worker group 'nope'"),
        (["jobs", "--host", "other-host"], "--host other-host but this machine is "
                                           "'test-host'"),
    ]:
        refused = cli("restart", *args, *state)
        assert refused.exit_code == 1 and message in refused.output, refused.output
        assert "Traceback" not in refused.output
    assert (site.state / "deploys.jsonl").read_text() == records
    assert site.pids() == after
