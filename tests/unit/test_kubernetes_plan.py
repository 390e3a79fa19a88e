"""Cluster plans: a Deployment rolls when its pod template changes, and says which field."""

from __future__ import annotations

import shutil
from pathlib import Path

from hznctl.plan.clusters import plan_cluster
from hznctl.plan.render import render_text
from tests.kubernetes.support import CANARY, INVENTORY, build


def _edit(inventory: Path, rel: str, old: str, new: str) -> None:
    path = inventory / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _copy(tmp_path: Path) -> Path:
    inventory = tmp_path / "inventory"
    shutil.copytree(INVENTORY, inventory)
    return inventory


def test_nothing_changed_nothing_rolls():
    tree = build()
    plan = plan_cluster(tree.manifest, build().manifest)
    assert not plan.has_changes and len(plan.unchanged) == len(tree.manifest.deployments)


def test_a_new_timeout_rolls_only_its_group_and_names_the_fields(tmp_path):
    inventory = _copy(tmp_path)
    _edit(inventory, "applications/search.yaml", "timeout: 300", "timeout: 200")
    plan = plan_cluster(build().manifest, build(inventory).manifest)
    assert plan.changed == ["search-indexing"]
    fields = {c.field: (c.old, c.new) for c in plan.groups["search-indexing"].changes}
    assert fields["terminationGracePeriodSeconds"] == ("330", "230")
    assert "--time-limit=300" in fields["containers[worker].command"][0]
    assert plan.groups["search-indexing"].stops  # its pods roll


def test_replicas_scale_without_rolling(tmp_path):
    inventory = _copy(tmp_path)
    _edit(inventory, "applications/mailer.yaml", "max_processes: 3", "max_processes: 4")
    plan = plan_cluster(build().manifest, build(inventory).manifest)
    assert plan.changed == ["mailer-fixed"]
    group = plan.groups["mailer-fixed"]
    assert [c.text() for c in group.changes] == ["replicas 3 → 4"]
    assert group.stops == ()  # nothing restarts


def test_a_rotated_password_rolls_exactly_the_deployments_that_read_it(tmp_path):
    inventory = _copy(tmp_path)
    secret = inventory / "secrets" / "redis-tls.yaml"
    secret.write_bytes(secret.read_bytes().replace(b"lastmodified", b"lastmodified", 1) + b"\n")
    plan = plan_cluster(build().manifest, build(inventory).manifest)
    assert plan.changed == ["billing-horizon", "mailer-fixed", "mailer-mail",
                            "search-indexing"]  # not reports and thumbs (redis-plain)
    notes = [c.text() for c in plan.groups["mailer-mail"].changes]
    assert notes == ["Secret hznctl-redis-tls changed (password rotated or connection moved)"]
    assert CANARY not in render_text([plan])


def test_a_moved_group_is_added_here(tmp_path):
    inventory = _copy(tmp_path)
    _edit(inventory, "applications/thumbs.yaml", "    balance: auto\n",
          "    balance: simple\n    active: false\n")
    old, new = build(inventory).manifest, build().manifest
    plan = plan_cluster(old, new)
    assert plan.added == ["thumbs-resize"]
    assert plan_cluster(None, new).added == sorted(new.deployments)


def test_trees_built_together_are_the_trees_built_alone(tmp_path):
    """A compile makes each worker group's files once for every cluster of the same
    settings: sharing them changes no byte of any cluster's tree."""
    from hznctl.compile.compiler import SecretFiles
    from hznctl.targets.kubernetes.tree import build_cluster_tree, build_cluster_trees
    from hznctl.validate import validate_inventory

    inventory = _copy(tmp_path)
    host = (inventory / "hosts" / "cluster-test.yaml").read_text()
    (inventory / "hosts" / "cluster-two.yaml").write_text(
        host.replace("name: cluster-test", "name: cluster-two"))
    (inventory / "hosts" / "cluster-other.yaml").write_text(
        host.replace("name: cluster-test", "name: cluster-other")
        .replace("namespace: queues", "namespace: workers"))
    for app in ("mailer", "reports", "search", "thumbs"):
        _edit(inventory, f"applications/{app}.yaml", "hosts: [cluster-test]",
              "hosts: [cluster-test, cluster-two, cluster-other]")
    validation = validate_inventory(inventory)
    errors = [d.text() for d in validation.diagnostics if d.is_error]
    assert errors == [d for d in errors if "cannot decrypt" in d]  # recipients: not here
    names = ["cluster-other", "cluster-test", "cluster-two"]
    hashes = SecretFiles(inventory).hash
    together = build_cluster_trees(validation.inventory, names, revision=None,
                                   secret_hash=hashes, generator="hznctl")
    for name in names:
        alone = build_cluster_tree(validation.inventory, name, revision=None,
                                   secret_hash=hashes, generator="hznctl")
        assert together[name].files == alone.files
        assert together[name].secrets == alone.secrets
    assert together["cluster-test"].files["deployments/mailer-mail.yaml"] == \
        together["cluster-two"].files["deployments/mailer-mail.yaml"]
    assert b"namespace: workers" in together["cluster-other"].files[
        "deployments/mailer-mail.yaml"]
