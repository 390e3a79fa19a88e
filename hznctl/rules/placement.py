"""Where worker groups run: a group on no host, or a host with nothing to run, is a warning.

Placement itself is ``hznctl.placement`` (the same function compile uses), so what these
warnings say is what compile will do.
"""

from __future__ import annotations

from collections.abc import Iterator

from hznctl.diagnostics import Diagnostic, Severity
from hznctl.inventory import Inventory
from hznctl.models import Application, WorkerGroup
from hznctl.placement import worker_hosts
from hznctl.rules import rule


def _broken(inventory: Inventory, kind: str) -> bool:
    return any(k == kind for k, _ in inventory.broken)


@rule("placement")
def placement(inventory: Inventory) -> Iterator[Diagnostic]:
    # A broken host file may be the one a group was meant for, and a broken application may
    # be what a host was meant to run: warning about either would only be noise.
    hosts_broken = _broken(inventory, "host")
    used: set[str] = set()
    placed = worker_hosts(inventory)
    for slug in sorted(inventory.applications):
        app = inventory.applications[slug]
        for index, worker in enumerate(app.workers):
            chosen = placed[slug][index]
            used.update(chosen)
            named_known = all(h in inventory.hosts for h in worker.hosts)
            if not chosen and app.active and worker.active and named_known and not hosts_broken:
                yield _unplaced(inventory, slug, app, index, worker)
    if _broken(inventory, "application"):
        return
    for name in sorted(inventory.hosts):
        if inventory.hosts[name].active and name not in used:
            yield inventory.diagnostic(
                "host", name, ("name",), f"host {name!r} runs no worker group",
                severity=Severity.WARNING, code="placement",
                hint="place worker groups on it (hosts: or host_labels:), or set active: false")


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
