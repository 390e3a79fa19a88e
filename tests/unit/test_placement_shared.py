"""Placement computed once per inventory gives what the per-group definition says.

``hosts_for`` is the definition (every host scanned for every group); the shared, indexed
placement that validate's rules and compile use must agree with it on every group, for
explicit hosts, label selectors, other environments, inactive objects and repeated names.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from benchmarks.generate import generate_inventory, sizes
from hznctl.inventory import Inventory, load_inventory
from hznctl.placement import (
    connections_by_host,
    groups_by_host,
    hosts_by_worker,
    hosts_for,
    placements,
    worker_hosts,
)


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _fleet(tmp_path: Path) -> Inventory:
    root = generate_inventory(tmp_path / "inventory", **sizes(0.02), seed=3)
    apps = sorted((root / "applications").glob("*.yaml"))
    hosts = sorted((root / "hosts").glob("*.yaml"))

    def repeat_group_elsewhere(data: dict) -> None:  # a repeated name on other hosts
        data["workers"].append({**data["workers"][0], "hosts": [hosts[-1].stem]})

    def select_by_label(data: dict) -> None:
        data["workers"][0].pop("hosts", None)
        data["workers"][0]["host_labels"] = {"pool": "pool-00"}  # every host, at this size
        data["allow_environments"] = [
            "production" if data["environment"] == "staging" else "staging"]

    _edit(apps[0], repeat_group_elsewhere)
    _edit(apps[1], select_by_label)
    _edit(apps[2], lambda data: data.update(active=False))
    _edit(apps[3], lambda data: data["workers"][0].update(active=False))
    _edit(hosts[0], lambda data: data.update(active=False))
    inventory = load_inventory(root).inventory
    assert len(inventory.applications) == len(apps)  # the edits kept every file valid
    return inventory


def test_shared_placement_matches_the_definition(tmp_path: Path) -> None:
    inventory = _fleet(tmp_path)
    expected = {slug: tuple(tuple(hosts_for(inventory, app, w)) for w in app.workers)
                for slug, app in inventory.applications.items()}
    assert worker_hosts(inventory) == expected
    first = inventory.applications[min(inventory.applications)]
    assert first.workers[0].name == first.workers[-1].name  # the repeated group is kept
    assert expected[first.slug][0] != expected[first.slug][-1]
    assert len(expected[sorted(inventory.applications)[1]][0]) > 2  # the label selector

    naive = sorted((host, slug, w.name) for slug, app in inventory.applications.items()
                   for w in app.workers for host in hosts_for(inventory, app, w))
    assert [(p.host, p.application, p.worker) for p in placements(inventory)] == naive
    assert sum(len(g) for g in groups_by_host(inventory).values()) == len(naive)

    used: dict[str, set[str]] = {}
    for app in inventory.applications.values():
        for w in app.workers:
            connection = app.worker_connection(w)
            for host in hosts_for(inventory, app, w) if connection else []:
                used.setdefault(host, set()).add(connection)
    assert connections_by_host(inventory) == used
    assert hosts_by_worker(inventory) == {(slug, w.name): list(hosts_for(inventory, app, w))
                                          for slug, app in inventory.applications.items()
                                          for w in app.workers}


def test_placement_is_worked_out_once_per_inventory(tmp_path: Path) -> None:
    inventory = _fleet(tmp_path)
    assert worker_hosts(inventory) is worker_hosts(inventory)
    assert list(placements(inventory)) == list(placements(inventory))
    # Another inventory (another load) has its own placement.
    other = load_inventory(inventory.root).inventory
    assert worker_hosts(other) is not worker_hosts(inventory)
    assert worker_hosts(other) == worker_hosts(inventory)
    # A changed copy is placed again, not given the original's placement.
    without_hosts = dataclasses.replace(inventory, hosts={})
    assert all(not hosts for groups in worker_hosts(without_hosts).values() for hosts in groups)
