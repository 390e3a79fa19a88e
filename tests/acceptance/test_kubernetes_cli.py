"""`hznctl compile`, `plan` and `deploy` with clusters, through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.compile_support import tree
from tests.kubernetes.support import CANARY, INVENTORY, RUNNER_KEY
from tests.support import DEMO_KEYS

NO_KEY = {"HZNCTL_AGE_KEY_FILE": "", "SOPS_AGE_KEY_FILE": "", "XDG_CONFIG_HOME": "/nonexistent"}


def _fixture(tmp_path: Path) -> Path:
    inventory = tmp_path / "inventory"
    shutil.copytree(INVENTORY, inventory)
    return inventory


def _compile(cli, inventory: Path, out: Path, key: Path | None, *extra: str):
    env = {"HZNCTL_AGE_KEY_FILE": str(key)} if key is not None else NO_KEY
    return cli("compile", str(inventory), "--out", str(out), *extra, env=env)


def test_the_example_inventory_compiles_its_cluster_beside_its_hosts(cli, example_inventory,
                                                                     tmp_path):
    out = tmp_path / "bundles"
    result = _compile(cli, example_inventory, out, DEMO_KEYS / "cluster-eu.agekey")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "cluster-eu", "worker-batch-1", "worker-eu-1", "worker-eu-2", "worker-staging-1"]
    assert "cluster-eu: 5 Deployment(s), 3 Secret(s), written" in result.output
    cluster = out / "cluster-eu"
    assert (cluster / "kustomization.yaml").is_file()
    assert not (cluster / "programs").exists()
    runtimes = {d["runtime"] for d in json.loads(
        (cluster / "manifest.json").read_text())["deployments"].values()}
    assert runtimes == {"laravel-horizon", "laravel-queue", "rq", "celery", "command"}
    # The supervisord hosts' bundles are what they were: no program for the cluster there.
    assert not any("cluster" in p for p in tree(out / "worker-eu-2"))


def test_an_unchanged_recompile_needs_no_key_and_touches_nothing(cli, tmp_path):
    inventory, out = _fixture(tmp_path), tmp_path / "out"
    assert _compile(cli, inventory, out, RUNNER_KEY).exit_code == 0
    before = tree(out)
    again = _compile(cli, inventory, out, None)
    assert again.exit_code == 0, again.output
    assert "cluster-test: 6 Deployment(s), 1 Secret(s), unchanged" in again.output
    assert tree(out) == before


def test_without_a_key_a_new_secret_stops_the_compile_and_nothing_is_written(cli, tmp_path):
    inventory, out = _fixture(tmp_path), tmp_path / "out"
    result = _compile(cli, inventory, out, None)
    assert result.exit_code == 1
    assert "Secret hznctl-redis-tls must be encrypted from secrets/redis-tls.yaml" in \
        result.output
    assert not out.exists()


def test_plan_shows_which_deployments_roll_and_the_canary_never_shows(cli, tmp_path):
    inventory = _fixture(tmp_path)
    old, new = tmp_path / "old", tmp_path / "new"
    first = _compile(cli, inventory, old, RUNNER_KEY, "--format", "json")
    assert first.exit_code == 0
    mailer = inventory / "applications" / "mailer.yaml"
    mailer.write_text(mailer.read_text().replace("timeout: 90", "timeout: 100"))
    second = _compile(cli, inventory, new, RUNNER_KEY)
    assert second.exit_code == 0
    plan = cli("plan", str(old), str(new))
    assert plan.exit_code == 0, plan.output
    assert "cluster-test: 0 to add, 1 to change, 0 to remove, 5 unchanged" in plan.output
    assert "~ mailer-mail: containers[worker].command" in plan.output
    assert "terminationGracePeriodSeconds 120 → 130" in plan.output
    assert "restarts the pods of deployment/mailer-mail (rolling update)" in plan.output
    as_json = cli("plan", str(old), str(new), "--format", "json")
    for output in (first.output, second.output, plan.output, as_json.output):
        assert CANARY not in output and "canary-Zq8vK2pX7" not in output
    for files in (tree(old), tree(new)):
        assert not any(b"canary-Zq8vK2pX7" in data for data in files.values())


def test_deploy_refuses_a_cluster_tree(cli, tmp_path):
    inventory, out = _fixture(tmp_path), tmp_path / "out"
    assert _compile(cli, inventory, out, RUNNER_KEY).exit_code == 0
    result = cli("deploy", str(out / "cluster-test"), "--dry-run")
    assert result.exit_code == 1
    assert "Kubernetes cluster" in result.output and "Flux" in result.output


def test_target_compiles_only_the_hosts_of_one_kind(cli, example_inventory, tmp_path):
    out = tmp_path / "bundles"
    clusters = cli("compile", str(example_inventory), "--out", str(out), "--target",
                   "kubernetes")
    assert clusters.exit_code == 0, clusters.output
    assert sorted(p.name for p in out.iterdir()) == ["cluster-eu"]
    hosts = cli("compile", str(example_inventory), "--out", str(out), "--target",
                "supervisord")
    assert hosts.exit_code == 0, hosts.output
    assert "cluster-eu" not in hosts.output
    assert sorted(p.name for p in out.iterdir()) == [
        "cluster-eu", "worker-batch-1", "worker-eu-1", "worker-eu-2", "worker-staging-1"]
