"""What the inventory says is what the real workers do: RQ, Celery and Laravel's queue:work,
each under a real supervisord through `hznctl exec`, compiled and deployed by hznctl.

One test per runtime (one redis-server and one supervisord each), in phases: queue order
as documented, 10× max_jobs jobs with workers cycling and never FATAL, an overlong job
stopped by the group's timeout in the runtime's own way, a job in flight surviving a
graceful restart by deploy, and the runtime's retry-after as the inventory says.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.deploy_fixtures import Site, compile_and_deploy
from tests.integration.runtime_apps import (
    CELERY_TASKS,
    LARAVEL,
    PHP,
    RQ_CRON,
    RQ_TASKS,
    laravel_push,
    runtime_site,
    states,
    write_laravel_app,
)
from tests.support import venv_bin, wait_for

pytestmark = pytest.mark.integration

JOBS = 20
MAX_JOBS = 2  # JOBS is 10× MAX_JOBS


def _list(site: Site, key: str) -> list[str]:
    return [v.decode() for v in site.redis["redis-a"].client().lrange(key, 0, -1)]


def _never_fatal(site: Site, group: str, done: Callable[[], bool], timeout: float,
                 what: str) -> set[str]:
    """Wait for ``done`` while recording every state the group's processes pass through."""
    seen: set[str] = set()

    def check() -> bool:
        seen.update(states(site, group))
        return done()

    wait_for(check, timeout=timeout, interval=0.05, what=what)
    seen.update(states(site, group))
    return seen


def _restart_with_job_in_flight(cli: Any, site: Site, slug: str, group_index: int,
                                started: Callable[[], bool]) -> dict[str, Any]:
    wait_for(started, timeout=30, what="the slow job started")
    site.apps[slug]["workers"][group_index]["env"] = {"CHANGED": "1"}
    site.write_app(slug)
    return compile_and_deploy(cli, site)


# ---- RQ --------------------------------------------------------------------------------

@pytest.fixture
def rq_site(tmp_path: Path):
    app = {"slug": "jobs", "runtime": "rq", "executable": venv_bin("rq"), "workers": [
        {"name": "order", "queues": ["high", "low"], "timeout": 10, "hosts": ["test-host"]},
        {"name": "slow", "queues": ["slow"], "timeout": 4, "hosts": ["test-host"]},
        {"name": "cycle", "queues": ["cycle"], "max_jobs": MAX_JOBS, "max_processes": 2,
         "startsecs": 1, "hosts": ["test-host"]},
        {"name": "cron", "kind": "scheduler", "queues": [], "schedule": "cron_config",
         "hosts": ["test-host"]},
    ]}
    yield from runtime_site(tmp_path, app, {"tasks.py": RQ_TASKS, "cron_config.py": RQ_CRON})


def test_rq_workers_do_what_the_inventory_says(cli, rq_site: Site):
    """rq 3.0: queues are read in the order given (rq/worker/base.py, Worker.dequeue_job_and_
    maintain_ttl with the default dequeue strategy); TERM is a warm shutdown (request_stop
    waits for the work horse); the work horse runs the job for job.timeout
    (perform_job: death_penalty_class(job.timeout or DEFAULT_TIMEOUT)), which hznctl's
    worker class caps at the group's timeout; --max-jobs makes the worker exit 0."""
    from rq import Queue
    from rq.job import Job

    site = rq_site
    conn = site.redis["redis-a"].client()
    for n in range(3):  # before any worker runs: low first, then high
        Queue("low", connection=conn).enqueue("tasks.record", f"low-{n}")
    for n in range(3):
        Queue("high", connection=conn).enqueue("tasks.record", f"high-{n}")
    for n in range(JOBS):
        Queue("cycle", connection=conn).enqueue("tasks.record", f"cycle-{n}")
    record = compile_and_deploy(cli, site)
    assert record["result"] == "ok", record

    seen = _never_fatal(site, "jobs-cycle",
                        lambda: len([t for t in _list(site, "results") if t.startswith("cycle")])
                        == JOBS, 90, "every cycle job processed")
    assert "FATAL" not in seen and "BACKOFF" not in seen, seen
    results = _list(site, "results")
    cycle_workers = {w for t, w in zip(results, _list(site, "workers"), strict=True)
                     if t.startswith("cycle")}
    assert len(cycle_workers) >= JOBS // MAX_JOBS  # a new worker every MAX_JOBS jobs
    assert [t for t in results if not t.startswith("cycle")] == [
        "high-0", "high-1", "high-2", "low-0", "low-1", "low-2"]
    # The scheduler (rq cron) enqueues its tick every second; the order group runs them.
    wait_for(lambda: len(_list(site, "ticks")) >= 2, timeout=30, what="rq cron ticks")

    # Overlong: enqueued with rq's default job timeout (180 s), stopped at the group's 4 s.
    began = time.monotonic()
    job = Queue("slow", connection=conn).enqueue("tasks.slow", "overlong", 60)
    wait_for(lambda: job.get_status(refresh=True) == "failed", timeout=30,
             what="the overlong job failed")
    assert time.monotonic() - began < 15
    assert "JobTimeoutException" in Job.fetch(job.id, connection=conn).latest_result().exc_string
    assert "overlong" not in _list(site, "results")

    # In flight across a graceful restart of its group by deploy.
    job = Queue("slow", connection=conn).enqueue("tasks.slow", "in-flight", 2)
    record = _restart_with_job_in_flight(cli, site, "jobs", 1,
                                         lambda: "in-flight" in _list(site, "started"))
    assert record["plan"]["changed"] == ["jobs-slow"]
    assert "in-flight" in _list(site, "results")
    assert job.get_status(refresh=True) == "finished"


def test_a_recycling_group_that_crashes_at_start_still_fails_the_deploy(cli, tmp_path):
    """The recycle hold is for exit status 0 only: a worker that exits 1 at once is a failed
    start (BACKOFF), and deploy rolls back."""
    app = {"slug": "jobs", "runtime": "rq", "executable": "/bin/false", "workers": [
        # startsecs well above `hznctl exec`'s own start on a busy machine: a crash at start
        {"name": "cycle", "queues": ["cycle"], "max_jobs": 2, "startsecs": 5,
         "hosts": ["test-host"]}]}
    for site in runtime_site(tmp_path, app, {}):
        compiled = cli("compile", str(site.inventory), "--out", str(site.out))
        assert compiled.exit_code == 0, compiled.output
        result = cli("deploy", str(site.bundle), "--host", "test-host")
        assert result.exit_code == 1
        assert "jobs-cycle_00 failed to start: BACKOFF" in result.output, result.output
        assert "rolled back to the previous bundle" in result.output
        assert states(site, "jobs-cycle") == []  # rolled back: the group is gone


def _worker_script(tmp_path: Path, body: str) -> str:
    """A stand-in worker executable for a recycling group; it ignores rq's arguments."""
    script = tmp_path / "worker.sh"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return str(script)


def test_a_recycling_worker_that_crashes_after_startsecs_fails_the_deploy(cli, tmp_path):
    """supervisord keeps no trace of why a process it restarted had exited
    (supervisor/process.py, Subprocess.spawn sets ``self.exitstatus = None``), so a
    recycling worker is replaced inside `hznctl exec` (hznctl/recycle.py) and a crash of it
    shows as a crash: this one reaches RUNNING (startsecs 1), then exits 1 two seconds into
    each run, inside deploy's settle window, which must catch it and roll back."""
    app = {"slug": "jobs", "runtime": "rq",
           "executable": _worker_script(tmp_path, "sleep 2\nexit 1\n"), "workers": [
               {"name": "cycle", "queues": ["cycle"], "max_jobs": 2, "startsecs": 1,
                "hosts": ["test-host"]}]}
    for site in runtime_site(tmp_path, app, {}):
        compiled = cli("compile", str(site.inventory), "--out", str(site.out))
        assert compiled.exit_code == 0, compiled.output
        result = cli("deploy", str(site.bundle), "--host", "test-host", "--settle", "4")
        assert result.exit_code == 1, result.output
        assert "jobs-cycle_00 did not stay RUNNING through the 4s settle window" \
            in result.output, result.output
        assert "rolled back to the previous bundle" in result.output
        assert states(site, "jobs-cycle") == []


def test_a_worker_that_recycles_all_through_the_settle_window_passes_it(cli, tmp_path):
    """The same group whose worker exits 0 (a recycle, as after max_jobs) every 0.2 s: it
    is replaced again and again inside the one process supervisord runs, never a failed
    start, and the deploy succeeds; supervisord's process keeps its PID."""
    runs = tmp_path / "runs"
    app = {"slug": "jobs", "runtime": "rq",
           "executable": _worker_script(tmp_path, f"echo x >> {runs}\nsleep 0.2\n"),
           "workers": [{"name": "cycle", "queues": ["cycle"], "max_jobs": 2,
                        "startsecs": 1, "hosts": ["test-host"]}]}
    for site in runtime_site(tmp_path, app, {}):
        compiled = cli("compile", str(site.inventory), "--out", str(site.out))
        assert compiled.exit_code == 0, compiled.output
        result = cli("deploy", str(site.bundle), "--host", "test-host", "--settle", "3")
        assert result.exit_code == 0, result.output
        (process,) = [p for p in site.sup.processes() if p["group"] == "jobs-cycle"]
        assert process["statename"] == "RUNNING"
        before = len(runs.read_text().splitlines())
        wait_for(lambda seen=before: len(runs.read_text().splitlines()) >= seen + 2,
                 timeout=20, what="two more workers")
        (again,) = [p for p in site.sup.processes() if p["group"] == "jobs-cycle"]
        assert (again["statename"], again["pid"]) == ("RUNNING", process["pid"])


def test_numprocs_start_numbers_the_processes_through_deploy_status_and_restart(cli,
                                                                               tmp_path):
    """supervisor numbers a program's processes from numprocs_start
    (supervisor/options.py, processes_from_section: ``for process_num in
    range(numprocs_start, numprocs + numprocs_start)``); deploy waits for exactly those,
    status and restart find them, and a new numprocs_start restarts the group."""
    # A worker that takes a second to stop: deploy must wait for the processes that run
    # (numbered from 5), not for those the new bundle names (from 1).
    worker = "trap 'sleep 1; exit 0' TERM\nwhile :; do sleep 0.1; done\n"
    app = {"slug": "jobs", "runtime": "rq",
           "executable": _worker_script(tmp_path, worker), "workers": [
               {"name": "main", "queues": ["main"], "max_processes": 2,
                "supervisord": {"numprocs_start": 5}, "hosts": ["test-host"]}]}
    for site in runtime_site(tmp_path, app, {}):
        record = compile_and_deploy(cli, site)
        assert record["result"] == "ok", record
        names = sorted(p["name"] for p in site.sup.processes() if p["group"] == "jobs-main")
        assert names == ["jobs-main_05", "jobs-main_06"]
        assert states(site, "jobs-main") == ["RUNNING", "RUNNING"]
        program = (site.bundle / "programs" / "jobs-main.conf").read_text()
        assert "numprocs_start=5" in program.splitlines()
        assert "jobs-main_05.out.log" in " ".join(
            p.name for p in (tmp_path / "log").iterdir())
        status = cli("status", "--state-dir", str(site.state), "--host", "test-host",
                     "--format", "json")
        assert status.exit_code == 0, status.output  # in sync: the names it expects are there
        before = site.pids()
        restarted = cli("restart", "jobs", "--state-dir", str(site.state), "--host",
                        "test-host")
        assert restarted.exit_code == 0, restarted.output
        after = site.pids()
        assert sorted(after) == ["jobs-main:jobs-main_05", "jobs-main:jobs-main_06"]
        assert all(after[p] != before[p] for p in after)  # both restarted
        assert states(site, "jobs-main") == ["RUNNING", "RUNNING"]

        site.apps["jobs"]["workers"][0]["supervisord"] = {"numprocs_start": 1}
        site.write_app("jobs")
        record = compile_and_deploy(cli, site)
        assert record["plan"]["changed"] == ["jobs-main"], record["plan"]
        names = sorted(p["name"] for p in site.sup.processes() if p["group"] == "jobs-main")
        assert names == ["jobs-main_01", "jobs-main_02"]


# ---- Celery ----------------------------------------------------------------------------

@pytest.fixture
def celery_site(tmp_path: Path):
    pytest.importorskip("celery")
    app = {"slug": "tasks", "runtime": "celery", "executable": venv_bin("celery"),
           "app_module": "tasks", "retry_after": 600, "workers": [
               {"name": "order", "queues": ["high", "low"], "timeout": 30,
                "hosts": ["test-host"]},
               {"name": "slow", "queues": ["slow"], "timeout": 4, "hosts": ["test-host"]},
               {"name": "cycle", "queues": ["cycle"], "max_jobs": MAX_JOBS,
                "max_processes": 2, "hosts": ["test-host"]},
               {"name": "beat", "kind": "scheduler", "queues": [], "hosts": ["test-host"]},
           ]}
    yield from runtime_site(tmp_path, app, {"tasks.py": CELERY_TASKS})


def _celery_client(site: Site) -> Any:
    from celery import Celery

    redis = site.redis["redis-a"]
    return Celery("client", broker=f"redis://:{redis.password}@127.0.0.1:{redis.port}/0")


def test_celery_workers_do_what_the_inventory_says(cli, celery_site: Site):
    """Celery 5: -Q queues are consumed together, kombu's Redis transport rotating over them
    (kombu/transport/redis.py, MultiChannelPoller and _queue_cycle), so there is no
    priority order; TERM is a warm shutdown that waits for the pool's tasks, and TERM to
    the pool's children kills them, so hznctl sets killasgroup only, as Celery's
    extra/supervisord/celeryd.conf does; --soft-time-limit raises SoftTimeLimitExceeded in
    the task before --time-limit kills its pool child; --max-tasks-per-child replaces the
    child; settings after `--` are read by config_from_cmdline (celery/bin/worker.py)."""
    site = celery_site
    client = _celery_client(site)
    for n in range(4):
        client.send_task("tasks.record", (f"low-{n}",), queue="low")
    for n in range(4):
        client.send_task("tasks.record", (f"high-{n}",), queue="high")
    for n in range(JOBS):
        client.send_task("tasks.record", (f"cycle-{n}",), queue="cycle")
    client.send_task("tasks.settings", queue="high")
    record = compile_and_deploy(cli, site)
    assert record["result"] == "ok", record

    wait_for(lambda: len(_list(site, "results")) == 8 + JOBS, timeout=90,
             what="every task processed")
    results = _list(site, "results")
    ordered = [t for t in results if not t.startswith("cycle")]
    # Round-robin, not priority: a low task runs before every high one has.
    assert ordered.index("low-0") < max(ordered.index(f"high-{n}") for n in range(4))
    cycle_pids = {w for t, w in zip(results, _list(site, "workers"), strict=True)
                  if t.startswith("cycle")}
    assert len(cycle_pids) >= JOBS // MAX_JOBS  # a new pool child every MAX_JOBS tasks
    assert states(site, "tasks-cycle") == ["RUNNING"]
    # The scheduler (celery beat) sends its tick every second; the order group runs them.
    wait_for(lambda: len(_list(site, "ticks")) >= 2, timeout=30, what="celery beat ticks")
    options = site.redis["redis-a"].client().get("transport_options")
    assert json.loads(options) == {"visibility_timeout": 600}  # the application's retry_after

    # Overlong: the soft limit (3 s) reaches the task, the hard limit (4 s) ends it.
    began = time.monotonic()
    client.send_task("tasks.slow", ("overlong", 60), queue="slow")
    wait_for(lambda: "overlong" in _list(site, "soft"), timeout=30, what="soft time limit")
    assert 2 < time.monotonic() - began < 15
    wait_for(lambda: "killed" in _worker_log(site, "tasks-slow").lower()
             or "timelimitexceeded" in _worker_log(site, "tasks-slow").lower(),
             timeout=30, what="the hard time limit in the worker's log")
    assert "overlong" not in _list(site, "results")

    # In flight across a graceful restart of its group by deploy.
    client.send_task("tasks.slow", ("in-flight", 2), queue="slow")
    record = _restart_with_job_in_flight(cli, site, "tasks", 1,
                                         lambda: "in-flight" in _list(site, "started"))
    assert record["plan"]["changed"] == ["tasks-slow"]
    assert "in-flight" in _list(site, "results")
    assert "WorkerLostError" not in _worker_log(site, "tasks-slow")


def _command(site: Site, group: str) -> str:
    manifest = json.loads((site.bundle / "manifest.json").read_text())
    return str(manifest["groups"][group]["settings"]["command"])


def _worker_log(site: Site, group: str) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted(
        (site.root / "log").glob(f"{group}_*.log")))


# ---- Laravel queue:work ----------------------------------------------------------------

@pytest.fixture
def laravel_site(tmp_path: Path):
    if PHP is None or not LARAVEL.exists():
        pytest.skip("php-cli and php-laravel-framework are not installed")
    app = {"slug": "shop", "runtime": "laravel-queue", "executable": PHP, "retry_after": 40,
           "workers": [
               {"name": "order", "queues": ["high", "low"], "timeout": 20, "sleep": 0.2,
                "hosts": ["test-host"]},
               {"name": "slow", "queues": ["slow"], "timeout": 3, "sleep": 0.2,
                "hosts": ["test-host"]},
               {"name": "cycle", "queues": ["cycle"], "max_jobs": MAX_JOBS, "sleep": 0.2,
                "timeout": 20, "max_processes": 2, "startsecs": 1, "hosts": ["test-host"]},
               {"name": "scheduler", "kind": "scheduler", "queues": [], "timeout": 20,
                "hosts": ["test-host"]},
           ]}
    for site in runtime_site(tmp_path, app, {}):
        write_laravel_app(tmp_path / "app")
        yield site


def test_laravel_workers_do_what_the_inventory_says(cli, laravel_site: Site):
    """Laravel 8 (Debian's php-laravel-framework): --queue=a,b is strict priority
    (Illuminate/Queue/Worker.php, getNextJob tries each queue in order); TERM is handled
    after the current job (listenForSignals sets shouldQuit); --timeout kills the worker
    running an overlong job (registerTimeoutHandler); --max-jobs stops it with exit 0
    (stopIfNecessary); the Redis queue reserves a job for retry_after seconds
    (RedisQueue::pop, availableAt(retryAfter)), read from REDIS_QUEUE_RETRY_AFTER."""
    site = laravel_site
    conn = site.redis["redis-a"].client()
    for n in range(3):
        laravel_push(conn, "low", f"low-{n}")
    for n in range(3):
        laravel_push(conn, "high", f"high-{n}")
    laravel_push(conn, "high", "settings", settings=True)
    for n in range(JOBS):
        laravel_push(conn, "cycle", f"cycle-{n}")
    record = compile_and_deploy(cli, site)
    assert record["result"] == "ok", record
    assert "php artisan schedule:work" in _command(site, "shop-scheduler")

    seen = _never_fatal(site, "shop-cycle",
                        lambda: len([t for t in _list(site, "results") if t.startswith("cycle")])
                        == JOBS, 90, "every cycle job processed")
    assert "FATAL" not in seen and "BACKOFF" not in seen, seen
    started = _list(site, "started")
    cycle_pids = {w for t, w in zip(started, _list(site, "workers"), strict=True)
                  if t.startswith("cycle")}
    assert len(cycle_pids) >= JOBS // MAX_JOBS  # a new worker every MAX_JOBS jobs
    assert [t for t in _list(site, "results") if not t.startswith("cycle")] == [
        "high-0", "high-1", "high-2", "settings", "low-0", "low-1", "low-2"]
    settings = json.loads(conn.get("settings"))
    assert settings["retry_after"] == 40  # the application's retry_after
    assert abs(settings["reserved_for"] - 40) <= 2  # and the reservation Redis holds

    # Overlong: --timeout=3 kills the worker (and its job) after 3 s; supervisord restarts it.
    pid = next(p["pid"] for p in site.sup.processes() if p["group"] == "shop-slow")
    began = time.monotonic()
    laravel_push(conn, "slow", "overlong", seconds=60)
    wait_for(lambda: "overlong" in _list(site, "started"), timeout=20, what="overlong started")
    wait_for(lambda: next(p["pid"] for p in site.sup.processes()
                          if p["group"] == "shop-slow") not in (pid, 0),
             timeout=30, what="the slow worker killed and restarted")
    assert time.monotonic() - began < 15
    assert "overlong" not in _list(site, "results")
    conn.delete("queues:slow:reserved")  # else it comes back after retry_after

    # In flight across a graceful restart of its group by deploy.
    laravel_push(conn, "slow", "in-flight", seconds=2)
    record = _restart_with_job_in_flight(cli, site, "shop", 1,
                                         lambda: "in-flight" in _list(site, "started"))
    assert record["plan"]["changed"] == ["shop-slow"]
    assert "in-flight" in _list(site, "results")
