"""Clusters: what a worker group needs to run as pods, said at the field that lacks it."""

from __future__ import annotations

from collections.abc import Iterator

from hznctl.diagnostics import Diagnostic
from hznctl.inventory import Inventory
from hznctl.models import Application, Balance, Host
from hznctl.models.host import HostTarget
from hznctl.placement import worker_hosts
from hznctl.rules import application_rule, rule

# Kubernetes label values (and so Deployment names carried as labels) are at most 63.
MAX_NAME = 63


def is_cluster(host: Host) -> bool:
    return host.target is HostTarget.KUBERNETES


@rule("cluster-settings")
def cluster_settings(inventory: Inventory) -> Iterator[Diagnostic]:
    for name in sorted(inventory.hosts):
        host = inventory.hosts[name]
        if is_cluster(host) and host.kubernetes is None:
            yield inventory.diagnostic(
                "host", name, ("kubernetes",),
                "a host with target: kubernetes needs kubernetes: settings (at least "
                "namespace)", code="cluster-settings", at=("target",),
                hint="add kubernetes: {namespace: <namespace>}")
        elif not is_cluster(host) and host.kubernetes is not None:
            yield inventory.diagnostic(
                "host", name, ("kubernetes",),
                "kubernetes: settings are read only for target: kubernetes",
                code="cluster-settings", key=True,
                hint="set target: kubernetes, or remove kubernetes:")


@application_rule("cluster-workers")
def cluster_workers(inventory: Inventory, slug: str, app: Application
                    ) -> Iterator[Diagnostic]:
    cluster_hosts = inventory.derived("rules.clusters", _clusters)
    if not cluster_hosts:
        return  # no group runs on a cluster: nothing to check, whatever the fleet's size
    placed = worker_hosts(inventory)[slug]
    for index, worker in enumerate(app.workers):
        clusters = [h for h in placed[index] if h in cluster_hosts]
        if not clusters:
            continue
        where = f"worker group {worker.name!r} runs on cluster {clusters[0]!r}"
        if app.image is None:
            yield inventory.diagnostic(
                "application", slug, ("image",),
                f"{where}: its pods need the application's container image",
                code="cluster-workers", at=("workers", index, "name"),
                hint="add image: <registry>/<name>:<tag> to the application")
        if len(f"{slug}-{worker.name}") > MAX_NAME:
            yield inventory.diagnostic(
                "application", slug, ("workers", index, "name"),
                f"{where}: its Deployment name {slug}-{worker.name} is longer than "
                f"{MAX_NAME} characters", code="cluster-workers",
                hint="shorten the worker group's name")
        if (worker.balance is Balance.AUTO and worker.min_processes == 0
                and not worker.scale_to_zero):
            yield inventory.diagnostic(
                "application", slug, ("workers", index, "min_processes"),
                f"{where} with balance auto: min_processes 0 would let KEDA scale it to "
                "no pod while jobs still run (the queue's length counts waiting jobs "
                "only)", code="cluster-workers",
                hint="set min_processes: 1 or more, or scale_to_zero: true to accept it")


def _clusters(inventory: Inventory) -> frozenset[str]:
    return frozenset(name for name, host in inventory.hosts.items() if is_cluster(host))


def only_on_clusters(inventory: Inventory, slug: str, index: int) -> bool:
    """Whether worker group ``index`` of ``slug`` runs somewhere, and only on clusters."""
    chosen = worker_hosts(inventory)[slug][index]
    return bool(chosen) and all(is_cluster(inventory.hosts[h]) for h in chosen)
