"""The runtime registry: every runtime says what each worker-group field means for it, the
README's table is generated from it, and what compile emits follows it (stops, time limits,
retry-after, Horizon's options as Horizon reads them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hznctl.compile.programs import horizon_supervisor, longest_job, stopwaitsecs
from hznctl.models import Application, Runtime, WorkerGroup
from hznctl.runtimes import (
    RUNTIMES,
    WORKER_FIELDS,
    celery_soft_time_limit,
    with_semantics_table,
)
from tests.support import REPO


def test_readme_runtime_table_is_the_registry():
    text = (REPO / "README.md").read_text()
    assert with_semantics_table(text) == text, (
        "README.md's runtime table is stale: run `.venv/bin/python -m hznctl.runtimes "
        "README.md`")


@pytest.mark.parametrize("runtime", list(Runtime))
def test_every_runtime_says_what_every_field_does(runtime):
    spec = RUNTIMES[runtime]
    assert set(spec.semantics) == set(WORKER_FIELDS)
    assert set(WORKER_FIELDS) <= set(WorkerGroup.model_fields)
    assert spec.queue_order and spec.stop.why


def test_stop_settings_follow_each_runtimes_signals():
    """Celery's extra/supervisord/celeryd.conf: killasgroup only (TERM to the prefork pool's
    children kills their tasks); rq's work horse sets its own process group
    (rq/worker/worker_classes.py, fork_work_horse: os.setpgrp); Laravel's queue:work traps
    TERM (Illuminate/Queue/Worker.php, listenForSignals)."""
    for runtime in (Runtime.CELERY, Runtime.RQ, Runtime.LARAVEL_QUEUE, Runtime.LARAVEL_HORIZON):
        stop = RUNTIMES[runtime].stop
        assert (stop.signal, stop.stopasgroup, stop.killasgroup) == ("TERM", False, True)


def _worker(**fields) -> WorkerGroup:
    return WorkerGroup(name="w", queues=["q"], **fields)


def test_stopwaitsecs_covers_rqs_own_default_when_the_group_sets_no_timeout():
    rq = RUNTIMES[Runtime.RQ]
    assert longest_job(_worker(timeout=0), rq) == 180  # rq's Queue.DEFAULT_TIMEOUT
    assert stopwaitsecs(_worker(timeout=0), rq, 30) == 210
    assert stopwaitsecs(_worker(timeout=45), rq, 30) == 75
    assert stopwaitsecs(_worker(timeout=0), RUNTIMES[Runtime.COMMAND], 30) == 30


@given(st.integers(min_value=0, max_value=86400))
def test_the_soft_time_limit_comes_before_the_hard_one(timeout):
    soft = celery_soft_time_limit(timeout)
    if timeout < 2:
        assert soft is None
    else:
        assert soft is not None and 1 <= soft < timeout and timeout - soft <= 30


def _horizon_app(**worker) -> Application:
    return Application(name="Shop", slug="shop", runtime="laravel-horizon",
                       environment="production", directory="/srv/shop",
                       connections=[{"connection": "redis-a", "primary": True}],
                       workers=[{"name": "w", "queues": ["a", "b"], **worker}])


@pytest.mark.parametrize("balance", ["auto", "simple", "off"])
def test_horizon_balance_is_written_as_horizons_own_string(balance):
    """laravel/horizon src/SupervisorOptions.php: balancing() is in_array($balance,
    ['simple', 'auto']) and autoScaling() is $balance !== 'simple'; the default is 'off'.
    `false` would loosely match neither, so off is written as the string 'off'."""
    app = _horizon_app(balance=balance)
    supervisor = horizon_supervisor(app, app.workers[0])
    assert supervisor["balance"] == balance


def test_horizon_options_use_horizons_names():
    """SupervisorOptions properties; ProvisioningPlan::convert camel-cases each key."""
    app = _horizon_app(balance="auto", min_processes=2, max_processes=9, rest=1, force=True,
                       autoscaling_strategy="size", balance_max_shift=3, balance_cooldown=5)
    supervisor = horizon_supervisor(app, app.workers[0])
    assert {k: supervisor[k] for k in ("minProcesses", "maxProcesses", "rest", "force",
                                       "autoScalingStrategy", "balanceMaxShift",
                                       "balanceCooldown")} == {
        "minProcesses": 2, "maxProcesses": 9, "rest": 1, "force": True,
        "autoScalingStrategy": "size", "balanceMaxShift": 3, "balanceCooldown": 5}
    plain = _horizon_app()
    assert "autoScalingStrategy" not in horizon_supervisor(plain, plain.workers[0])


def test_compiled_bundles_carry_each_runtimes_settings(cli, example_inventory: Path, tmp_path):
    out = tmp_path / "out"
    assert cli("compile", str(example_inventory), "--out", str(out)).exit_code == 0
    horizon = json.loads((out / "worker-eu-1/horizon/billing.json").read_text())
    for supervisor in horizon["supervisors"].values():
        assert supervisor["minProcesses"] >= 1  # ProvisioningPlan::convert throws below 1
        assert supervisor["balance"] in ("auto", "simple", "off")
    spec = json.loads((out / "worker-eu-1/exec/billing-horizon.json").read_text())
    assert spec["env"]["REDIS_QUEUE_RETRY_AFTER"] == "90"  # Laravel's default retry_after
    rq = json.loads((out / "worker-batch-1/exec/reports-exports.json").read_text())
    assert rq["env"]["HZNCTL_RQ_TIMEOUT"] == "600"
    assert rq["env"]["PYTHONPATH"].endswith("/current/support")
    assert (out / "worker-batch-1/support/hznctl_rq.py").read_bytes() == (
        REPO / "hznctl/support/hznctl_rq.py").read_bytes()
    mail = json.loads((out / "worker-eu-1/exec/mailer-mail.json").read_text())
    assert mail["recycle"] == {"exit_codes": [0, 12], "min_uptime": 1.5}  # max_jobs: 1000
    manifest = json.loads((out / "worker-eu-1/manifest.json").read_text())
    assert manifest["groups"]["mailer-mail"]["recycle_exit_codes"] == [0, 12]


def test_a_scheduler_is_a_program_of_its_own(cli, example_inventory: Path, tmp_path):
    """Laravel's schedule:work next to Horizon (not one of its supervisors), celery beat."""
    import yaml

    for slug, extra in (("billing", {}), ("search-indexer", {})):
        path = example_inventory / "applications" / f"{slug}.yaml"
        data = yaml.safe_load(path.read_text())
        data["workers"].append({"name": "scheduler", "kind": "scheduler", "queues": [],
                                "hosts": ["worker-eu-1" if slug == "billing"
                                          else "worker-batch-1"], **extra})
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "out"
    result = cli("compile", str(example_inventory), "--out", str(out))
    assert result.exit_code == 0, result.output
    eu1 = json.loads((out / "worker-eu-1/manifest.json").read_text())["groups"]
    scheduler = eu1["billing-scheduler"]
    assert scheduler["settings"]["command"].endswith("-- php artisan schedule:work")
    assert scheduler["processes"] == 1
    horizon = json.loads((out / "worker-eu-1/horizon/billing.json").read_text())
    assert "billing-scheduler" not in horizon["supervisors"]
    batch = json.loads((out / "worker-batch-1/manifest.json").read_text())["groups"]
    beat = batch["search-indexer-scheduler"]["settings"]["command"]
    assert beat.endswith("celery -A indexer.worker beat --loglevel=INFO")
