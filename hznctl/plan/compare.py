"""Plans between two bundle folders, and the result every plan command shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from hznctl.bundle.manifest import Manifest, read_bundles
from hznctl.diagnostics import Diagnostic
from hznctl.plan.clusters import plan_clusters, read_cluster_manifests
from hznctl.plan.model import HostPlan, plan_hosts
from hznctl.targets.kubernetes.manifest import ClusterManifest

_M = TypeVar("_M")


@dataclass
class PlanResult:
    plans: list[HostPlan]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    @property
    def has_changes(self) -> bool:
        return any(p.has_changes for p in self.plans)


def only_hosts(manifests: dict[str, _M], hosts: tuple[str, ...]) -> dict[str, _M]:
    """The manifests of ``hosts`` (all when empty)."""
    return {h: m for h, m in manifests.items() if not hosts or h in hosts}


def all_plans(old: dict[str, Manifest], new: dict[str, Manifest],
              old_clusters: dict[str, ClusterManifest],
              new_clusters: dict[str, ClusterManifest],
              hosts: tuple[str, ...] = ()) -> list[HostPlan]:
    """Hosts' and clusters' plans (each by its target's comparison), by name."""
    plans = plan_hosts(only_hosts(old, hosts), only_hosts(new, hosts))
    plans += plan_clusters(only_hosts(old_clusters, hosts), only_hosts(new_clusters, hosts))
    return sorted(plans, key=lambda p: p.host)


def plan_bundles(old: Path, new: Path, hosts: tuple[str, ...] = ()) -> PlanResult:
    """Compare two bundle folders (one host's bundle or cluster's tree each, or folders of
    them as `compile` writes)."""
    return PlanResult(all_plans(read_bundles(old), read_bundles(new),
                                read_cluster_manifests(old), read_cluster_manifests(new),
                                hosts))
