"""What validate says about clusters, at the place that lacks it."""

from __future__ import annotations

import shutil
from pathlib import Path

from hznctl.validate import validate_inventory
from tests.kubernetes.support import INVENTORY


def _copy(tmp_path: Path) -> Path:
    inventory = tmp_path / "inventory"
    shutil.copytree(INVENTORY, inventory)
    return inventory


def _edit(inventory: Path, rel: str, old: str, new: str) -> None:
    path = inventory / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _errors(inventory: Path) -> list[str]:
    result = validate_inventory(inventory)
    return [f"{Path(d.file).name}:{d.line}:{d.col}: {d.path}: {d.message}"
            for d in result.diagnostics if d.is_error]


def test_the_fixture_is_valid():
    assert _errors(INVENTORY) == []


def test_a_cluster_without_its_settings(tmp_path):
    inventory = _copy(tmp_path)
    host = inventory / "hosts" / "cluster-test.yaml"
    host.write_text(host.read_text().split("kubernetes:\n")[0])
    assert _errors(inventory) == [
        "cluster-test.yaml:4:9: kubernetes: a host with target: kubernetes needs kubernetes: "
        "settings (at least namespace)"]


def test_an_application_on_a_cluster_without_an_image(tmp_path):
    inventory = _copy(tmp_path)
    _edit(inventory, "applications/search.yaml", "image: registry.example.com/search:7\n", "")
    assert _errors(inventory) == [
        "search.yaml:11:11: image: worker group 'indexing' runs on cluster 'cluster-test': "
        "its pods need the application's container image"]


def test_scaling_to_zero_needs_the_opt_in(tmp_path):
    inventory = _copy(tmp_path)
    _edit(inventory, "applications/reports.yaml", "    scale_to_zero: true\n", "")
    errors = _errors(inventory)
    assert len(errors) == 1
    assert errors[0].startswith("reports.yaml:16:20: workers[0].min_processes: worker group "
                                "'exports' runs on cluster 'cluster-test' with balance auto")


def test_balance_auto_for_any_runtime_only_on_clusters(tmp_path):
    """KEDA scales the pods of any runtime; on a supervisord host rq cannot scale itself."""
    inventory = _copy(tmp_path)
    (inventory / "hosts" / "worker-1.yaml").write_text(
        "name: worker-1\nenvironment: production\n"
        "age_recipient: age1l9qtewpyn8x80je7h9yufclplt885d8ds0l3g37pdtq090gg64hsexyua5\n")
    _edit(inventory, "applications/reports.yaml", "hosts: [cluster-test]",
          "hosts: [cluster-test, worker-1]")
    errors = _errors(inventory)
    assert any("reports.yaml:" in e and "balance 'auto' needs a runtime that scales" in e
               for e in errors), errors


def test_bad_kubernetes_values_are_explained(tmp_path):
    inventory = _copy(tmp_path)
    _edit(inventory, "hosts/cluster-test.yaml", "namespace: queues", "namespace: Queues_1")
    _edit(inventory, "applications/mailer.yaml", "memory_limit: 300Mi", "memory_limit: 300MB")
    errors = _errors(inventory)
    assert any(e.startswith("cluster-test.yaml:") and "kubernetes.namespace" in e
               and "a DNS label" in e for e in errors), errors
    assert any(e.startswith("mailer.yaml:") and "resources.memory_limit" in e
               and "256Mi or 1Gi" in e for e in errors), errors
