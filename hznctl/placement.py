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


class HostIndex:
    """Active hosts indexed by label, so that placing every worker group costs one pass.

    ``hosts_for`` scans every host for each group; with 10,000 groups and 200 hosts that is
    millions of label comparisons. The index gives the same answer from set intersections.
    """

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.by_label: dict[tuple[str, str], set[str]] = {}
        # Many groups share a selector (pool=general in production): select each once.
        self._selected: dict[tuple[frozenset[tuple[str, str]], frozenset[str]],
                             frozenset[str]] = {}
        for name, host in inventory.hosts.items():
            if host.active:
                for item in host.labels.items():
                    self.by_label.setdefault(item, set()).add(name)

    def hosts_for(self, app: Application, worker: WorkerGroup) -> list[str]:
        """Same result as the module's ``hosts_for``."""
        if not (app.active and worker.active):
            return []
        hosts = self.inventory.hosts
        chosen = {name for name in worker.hosts if name in hosts and hosts[name].active}
        if worker.host_labels:
            chosen.update(self._select(worker.host_labels,
                                       frozenset({app.environment, *app.allow_environments})))
        return sorted(chosen)

    def _select(self, labels: dict[str, str], environments: frozenset[str]) -> frozenset[str]:
        key = (frozenset(labels.items()), environments)
        found = self._selected.get(key)
        if found is None:
            hosts = self.inventory.hosts
            sets = [self.by_label.get(item, set()) for item in labels.items()]
            found = self._selected[key] = frozenset(
                name for name in set.intersection(*sets) if hosts[name].environment in environments)
        return found


_WORKER_HOSTS = "placement.worker_hosts"


def worker_hosts(inventory: Inventory) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Application slug -> the hosts of each of its worker groups, by position in ``workers``.

    Computed once per inventory and shared by every rule and stage that asks (placement,
    secrets, program names, compile): placing the fleet is the costly part of validate.
    By position, not by name: a repeated group name (an error reported elsewhere) must not
    hide one of the groups.
    """
    return inventory.derived(_WORKER_HOSTS, _worker_hosts)


def _worker_hosts(inventory: Inventory) -> dict[str, tuple[tuple[str, ...], ...]]:
    index = HostIndex(inventory)
    before = _placed_before(inventory)
    earlier = inventory.earlier.previous.applications if inventory.earlier else {}
    found: dict[str, tuple[tuple[str, ...], ...]] = {}
    for slug, app in inventory.applications.items():
        if before is not None and earlier.get(slug) is app:
            found[slug] = before[slug]  # the same object placed on the same hosts
        else:
            found[slug] = tuple(tuple(index.hosts_for(app, worker)) for worker in app.workers)
    return found


def _placed_before(inventory: Inventory) -> dict[str, tuple[tuple[str, ...], ...]] | None:
    """The placement of the inventory this one was loaded beside (``reusing``), when its
    hosts are the very same objects: an application object found there too is placed as
    it was (placement reads only the application and the hosts). None otherwise."""
    if inventory.earlier is None:
        return None
    previous = inventory.earlier.previous
    placed: dict[str, tuple[tuple[str, ...], ...]] | None = previous.computed(_WORKER_HOSTS)
    hosts = inventory.hosts
    if placed is None or previous.hosts.keys() != hosts.keys() or any(
            previous.hosts[name] is not host for name, host in hosts.items()):
        return None
    return placed


def hosts_by_worker(inventory: Inventory) -> dict[tuple[str, str], list[str]]:
    """(application, worker group) -> the hosts it runs on, for every group of every app."""
    return {
        (slug, worker.name): list(hosts)
        for slug, app in inventory.applications.items()
        for worker, hosts in zip(app.workers, worker_hosts(inventory)[slug], strict=True)
    }


def placements(inventory: Inventory) -> Iterator[PlacedGroup]:
    """Every (host, application, worker group) that must run, in a stable order: by host,
    then application, then worker group."""
    return iter(inventory.derived("placement.placements", _placements))


def _placements(inventory: Inventory) -> tuple[PlacedGroup, ...]:
    placed = groups_by_host(inventory)
    return tuple(item for host in sorted(placed) for item in placed[host])


def groups_by_host(inventory: Inventory) -> dict[str, list[PlacedGroup]]:
    """Active hosts mapped to what they run (hosts that run nothing map to []), each
    host's groups by application, then worker group.

    Computed once per inventory and shared by every caller: not to be changed."""
    return inventory.derived("placement.groups_by_host", _groups_by_host)


def _groups_by_host(inventory: Inventory) -> dict[str, list[PlacedGroup]]:
    by_app = worker_hosts(inventory)
    before = _groups_before(inventory, by_app)
    if before is not None:
        return before
    result: dict[str, list[PlacedGroup]] = {
        name: [] for name in sorted(inventory.hosts) if inventory.hosts[name].active
    }
    for slug in sorted(inventory.applications):
        _place(result, slug, inventory.applications[slug], by_app[slug])
    return result


def _place(result: dict[str, list[PlacedGroup]], slug: str, app: Application,
           placed: tuple[tuple[str, ...], ...]) -> None:
    """Append ``app``'s groups to the hosts they run on, by group name (stable: a
    repeated name keeps its groups in order)."""
    for worker, hosts in sorted(zip(app.workers, placed, strict=True),
                                key=lambda item: item[0].name):
        for host in hosts:
            result.setdefault(host, []).append(PlacedGroup(host, slug, worker.name))


def _groups_before(inventory: Inventory, by_app: dict[str, tuple[tuple[str, ...], ...]]
                   ) -> dict[str, list[PlacedGroup]] | None:
    """What the hosts of the inventory this one was loaded beside (``reusing``) run, the
    hosts where an application that differs runs (on either side) placed again, when its
    hosts are the very same objects and few applications differ: an application object
    found there too, placed on the very same hosts (``_worker_hosts``), runs the same
    groups there. None when there is nothing to start from or more than a few differ."""
    if inventory.earlier is None or _placed_before(inventory) is None:
        return None
    previous = inventory.earlier.previous
    placed: dict[str, list[PlacedGroup]] | None = previous.computed(
        "placement.groups_by_host")
    hosts_before = previous.computed(_WORKER_HOSTS)
    if placed is None or hosts_before is None:
        return None
    apps_before = previous.applications
    changed = {slug for slug in {*apps_before, *inventory.applications}
               if inventory.applications.get(slug) is not apps_before.get(slug)
               or by_app.get(slug) is not hosts_before.get(slug)}
    if len(changed) * 20 > len(inventory.applications):
        return None  # most of the fleet: placing it again costs less than patching
    touched = {host for slug in changed for placement in (by_app.get(slug, ()),
                                                           hosts_before.get(slug, ()))
               for hosts in placement for host in hosts}
    result = dict(placed)
    for host in touched & result.keys():
        result[host] = [p for p in placed[host] if p.application not in changed]
    fresh: dict[str, list[PlacedGroup]] = {}
    for slug in sorted(changed & inventory.applications.keys()):
        _place(fresh, slug, inventory.applications[slug], by_app[slug])
    for host, added in fresh.items():
        result[host] = sorted([*result.get(host, []), *added],
                              key=lambda p: (p.application, p.worker))
    return result


def connections_by_host(inventory: Inventory) -> dict[str, set[str]]:
    """Which connections each host's workers use (so which secrets each host needs)."""
    result: dict[str, set[str]] = {}
    for pairs in connection_pairs(inventory).values():
        for connection, host in pairs:
            result.setdefault(host, set()).add(connection)
    return result


# A view for the secrets' readers, let go of with the documents (forget_documents).
_PAIRS = "secrets.connection_pairs"


def connection_pairs(inventory: Inventory) -> dict[str, tuple[tuple[str, str], ...]]:
    """Application slug -> the (connection, host) pairs its worker groups make, sorted.

    Computed once per inventory; of an application that the inventory loaded beside this
    one (``reusing``) has as the same object placed alike, taken from there (the pairs
    read only the application and its placement)."""
    return inventory.derived(_PAIRS, _connection_pairs)


def _connection_pairs(inventory: Inventory) -> dict[str, tuple[tuple[str, str], ...]]:
    by_app = worker_hosts(inventory)
    before: dict[str, tuple[tuple[str, str], ...]] = {}
    placed_before: dict[str, tuple[tuple[str, ...], ...]] = {}
    apps_before: dict[str, Application] = {}
    if inventory.earlier is not None:
        previous = inventory.earlier.previous
        before = previous.computed(_PAIRS) or {}
        placed_before = previous.computed(_WORKER_HOSTS) or {}
        apps_before = previous.applications
    found: dict[str, tuple[tuple[str, str], ...]] = {}
    for slug, app in inventory.applications.items():
        kept = before.get(slug)
        if (kept is None or apps_before.get(slug) is not app
                or placed_before.get(slug) != by_app[slug]):
            kept = _pairs_of(app, by_app[slug])
        found[slug] = kept
    return found


def _pairs_of(app: Application, placed: tuple[tuple[str, ...], ...]
              ) -> tuple[tuple[str, str], ...]:
    pairs: set[tuple[str, str]] = set()
    for worker, hosts in zip(app.workers, placed, strict=True):
        if hosts:
            connection = app.worker_connection(worker)
            if connection is not None:
                pairs.update((connection, host) for host in hosts)
    return tuple(sorted(pairs))
