"""Where worker groups run: a group on no host, or a host with nothing to run, is a warning.

Placement itself is ``hznctl.placement`` (the same function compile uses), so what these
warnings say is what compile will do.
"""

from __future__ import annotations

from collections.abc import Iterator

from hznctl.diagnostics import Diagnostic, Severity
from hznctl.inventory import Inventory
from hznctl.models import Application, WorkerGroup
from hznctl.placement import groups_by_host, worker_hosts
from hznctl.rules import application_rule, rule


def _broken(inventory: Inventory, kind: str) -> bool:
    return any(k == kind for k, _ in inventory.broken)


# A broken host file may be the one a group was meant for, and a broken application may be
# what a host was meant to run: warning about either would only be noise.


@application_rule("placement")
def unplaced_groups(inventory: Inventory, slug: str, app: Application
                    ) -> Iterator[Diagnostic]:
    if not app.active or _broken(inventory, "host"):
        return
    placed = worker_hosts(inventory)[slug]
    for index, worker in enumerate(app.workers):
        named_known = all(h in inventory.hosts for h in worker.hosts)
        if not placed[index] and worker.active and named_known:
            yield _unplaced(inventory, slug, app, index, worker)


@rule("placement")
def idle_hosts(inventory: Inventory) -> Iterator[Diagnostic]:
    if _broken(inventory, "application"):
        return
    used = _used_hosts(inventory)
    for name in sorted(inventory.hosts):
        if inventory.hosts[name].active and name not in used:
            yield inventory.diagnostic(
                "host", name, ("name",), f"host {name!r} runs no worker group",
                severity=Severity.WARNING, code="placement",
                hint="place worker groups on it (hosts: or host_labels:), or set active: false")


def _used_hosts(inventory: Inventory) -> set[str]:
    """The hosts some worker group runs on."""
    if inventory.earlier is not None:
        # Beside another inventory (`plan --base`), what each host runs is taken from the
        # other's for most hosts, and is needed anyway: cheaper than every group's hosts.
        return {host for host, groups in groups_by_host(inventory).items() if groups}
    used: set[str] = set()
    for groups in worker_hosts(inventory).values():
        for hosts in groups:
            used.update(hosts)
    return used


def _unplaced(
    inventory: Inventory, slug: str, app: Application, index: int, worker: WorkerGroup
) -> Diagnostic:
    if not worker.hosts and not worker.host_labels:
        hint = "add hosts: [<host>] or host_labels: {<label>: <value>}"
    elif worker.host_labels:
        wanted = ", ".join(f"{k}={v}" for k, v in sorted(worker.host_labels.items()))
        hint = (f"no active host of environment {app.environment!r} has the labels {wanted}, "
                "and no host named in hosts: is active")
    else:
        hint = "every host named in hosts: is inactive"
    return inventory.diagnostic(
        "application", slug, ("workers", index, "name"),
        f"worker group {worker.name!r} is placed on no host; it will not run",
        severity=Severity.WARNING, code="placement", hint=hint)
