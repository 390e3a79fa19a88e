"""The reach of a change (hznctl.policy.reach): every environment it touches, and why,
read from both sides of the change, on folders (no git)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hznctl.policy.changes import compare, read_snapshot
from hznctl.policy.reach import with_reach


@pytest.fixture
def pair(example_inventory: Path, tmp_path: Path) -> tuple[Path, Path]:
    new = tmp_path / "new" / "inventory"
    shutil.copytree(example_inventory, new)
    return example_inventory, new


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _reach(pair: tuple[Path, Path]) -> list[tuple[str, str, tuple[str, ...], dict[str, str]]]:
    old, new = (read_snapshot(p, "inventory") for p in pair)
    return [(c.kind, c.name, c.environments, dict(c.reasons))
            for c in with_reach(old, new, compare(old, new))]


def test_an_object_in_its_own_environment_reaches_only_it(pair) -> None:
    _edit(pair[1] / "applications/storefront.yaml", "max_processes: 2", "max_processes: 3")
    _edit(pair[1] / "connections/redis-staging.yaml", "region: eu-west-1", "region: x")
    assert _reach(pair) == [("application", "storefront", ("staging",), {}),
                            ("connection", "redis-staging", ("staging",), {})]


def test_an_application_reaches_its_hosts_connections_and_allowed_environments(pair) -> None:
    _edit(pair[1] / "applications/storefront.yaml", "hosts: [worker-staging-1]",
          "hosts: [worker-staging-1, worker-eu-1]")
    _edit(pair[1] / "applications/storefront.yaml", "- connection: redis-staging",
          "- connection: redis-staging\n  - connection: redis-jobs")
    ((kind, name, environments, reasons),) = _reach(pair)
    assert (kind, name, environments) == ("application", "storefront",
                                          ("production", "staging"))
    # The first reason found for production: a host it now runs on.
    assert reasons == {"production": "worker group storefront/default runs on host "
                                     "worker-eu-1"}


def test_before_counts_as_much_as_after(pair) -> None:
    # Taking a group off a production host (and the permission to be there) reaches it.
    _edit(pair[0] / "applications/storefront.yaml", "hosts: [worker-staging-1]",
          "hosts: [worker-staging-1, worker-eu-1]")
    _edit(pair[0] / "applications/storefront.yaml", "environment: staging",
          "environment: staging\nallow_environments: [production]")
    ((kind, _name, environments, reasons),) = _reach(pair)
    assert (kind, environments) == ("application", ("production", "staging"))
    assert reasons == {"production": "application storefront lists it in allow_environments"}


def test_a_connection_reaches_the_applications_and_hosts_that_use_it(pair) -> None:
    # An admin let billing (production) also bind redis-staging, spelled with an escape.
    for side in pair:
        _edit(side / "applications/billing.yaml", "connections:\n",
              'allow_environments: [staging]\nconnections:\n  - connection: "redis\\x2dstaging"\n')
        _edit(side / "applications/billing.yaml", "  - name: payments\n",
              "  - name: payments\n    connection: redis-staging\n")
    _edit(pair[1] / "connections/redis-staging.yaml", "host: redis.staging.internal",
          "host: elsewhere.internal")
    ((kind, name, environments, reasons),) = _reach(pair)
    assert (kind, name, environments) == ("connection", "redis-staging",
                                          ("production", "staging"))
    assert reasons["production"] == "application billing binds connection redis-staging"


def test_a_host_reaches_what_its_labels_pull_onto_it(pair) -> None:
    for side in pair:
        _edit(side / "applications/search-indexer.yaml", "environment: production",
              "environment: production\nallow_environments: [staging]")
    _edit(pair[1] / "hosts/worker-staging-1.yaml", "role: queue", "role: batch")
    assert _reach(pair) == [("host", "worker-staging-1", ("production", "staging"), {
        "production": "its name or labels pull worker group search-indexer/indexing onto "
                      "host worker-staging-1"})]


def test_a_new_secret_reference_is_a_change_to_that_secret_file(pair) -> None:
    _edit(pair[1] / "connections/redis-staging.yaml", "sops: secrets/redis-staging.yaml",
          "sops: secrets/./redis-main.yaml")
    found = _reach(pair)
    assert found[0][:3] == ("connection", "redis-staging", ("staging",))
    assert found[1] == ("secret", "secrets/redis-main.yaml", ("production", "staging"), {
        "production": "secrets/redis-main.yaml is a secret of connection redis-main"})


def test_a_secret_file_reaches_every_user_at_base_and_head(pair) -> None:
    # The staging connection stops using its secret; the file's change still reaches it.
    _edit(pair[1] / "connections/redis-staging.yaml", "sops: secrets/redis-staging.yaml",
          "sops: secrets/redis-staging-2.yaml")
    (pair[1] / "secrets/redis-staging.yaml").unlink()
    removed = [r for r in _reach(pair) if r[1] == "secrets/redis-staging.yaml"]
    assert removed == [("secret", "secrets/redis-staging.yaml", ("staging",), {})]


def test_project_and_unreadable_files_reach_every_environment(pair) -> None:
    _edit(pair[1] / "project.yaml", "stop_margin: 30", "stop_margin: 31")
    (pair[1] / "hosts/worker-staging-1.yaml").write_text("name: [broken\n")
    assert [(k, e) for k, _n, e, _r in _reach(pair)] == [("project", ()), ("host", ())]
