"""Placement: which hosts run which worker groups. One definition, used by every stage.

A worker group runs on every host it names in ``hosts`` and on every host that carries all of
its ``host_labels``. Label selection only picks hosts of the application's environment (or
of one it explicitly allows); a host named explicitly is taken as written, and the rules
report it when its environment does not fit. Inactive applications, worker groups and
hosts run nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from hznctl.inventory import Inventory
from hznctl.models import Application, Host, WorkerGroup


@dataclass(frozen=True, order=True)
class PlacedGroup:
    """A worker group of an application, on one host."""

    host: str
    application: str
    worker: str


def _labels_match(host: Host, selector: dict[str, str]) -> bool:
    return bool(selector) and all(host.labels.get(k) == v for k, v in selector.items())


def hosts_for(inventory: Inventory, app: Application, worker: WorkerGroup) -> list[str]:
    """Names of the active hosts that run ``worker`` of ``app``, sorted."""
    if not (app.active and worker.active):
        return []
    environments = {app.environment, *app.allow_environments}
    chosen: set[str] = set()
    for name in worker.hosts:
        host = inventory.hosts.get(name)
        if host is not None and host.active:
            chosen.add(name)
    if worker.host_labels:
        for name, host in inventory.hosts.items():
            if host.active and host.environment in environments and _labels_match(
                host, worker.host_labels
            ):
                chosen.add(name)
    return sorted(chosen)


def placements(inventory: Inventory) -> Iterator[PlacedGroup]:
    """Every (host, application, worker group) that must run, in a stable order."""
    found: list[PlacedGroup] = []
    for slug in sorted(inventory.applications):
        app = inventory.applications[slug]
        for worker in app.workers:
            for host in hosts_for(inventory, app, worker):
                found.append(PlacedGroup(host, slug, worker.name))
    yield from sorted(found)


def groups_by_host(inventory: Inventory) -> dict[str, list[PlacedGroup]]:
    """Active hosts mapped to what they run (hosts that run nothing map to [])."""
    result: dict[str, list[PlacedGroup]] = {
        name: [] for name in sorted(inventory.hosts) if inventory.hosts[name].active
    }
    for placed in placements(inventory):
        result.setdefault(placed.host, []).append(placed)
    return result


def connections_by_host(inventory: Inventory) -> dict[str, set[str]]:
    """Which connections each host's workers use (so which secrets each host needs)."""
    result: dict[str, set[str]] = {}
    for placed in placements(inventory):
        app = inventory.applications[placed.application]
        worker = next(w for w in app.workers if w.name == placed.worker)
        connection = app.worker_connection(worker)
        if connection is not None:
            result.setdefault(placed.host, set()).add(connection)
    return result
