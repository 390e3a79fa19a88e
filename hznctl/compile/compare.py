"""Plans between compiled inventories: two bundle folders, or a git revision and the tree."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from hznctl.bundle import Manifest, read_bundles
from hznctl.compile.compiler import compile_inventory
from hznctl.diagnostics import Diagnostic
from hznctl.errors import UsageError
from hznctl.gitrev import _git, materialize, repo_root, revision
from hznctl.plan import HostPlan, plan_hosts
from hznctl.targets.kubernetes.manifest import ClusterManifest
from hznctl.targets.kubernetes.plan import plan_clusters, read_cluster_manifests

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


def _only(manifests: dict[str, _M], hosts: tuple[str, ...]) -> dict[str, _M]:
    return {h: m for h, m in manifests.items() if not hosts or h in hosts}


def _plans(old: dict[str, Manifest], new: dict[str, Manifest],
           old_clusters: dict[str, ClusterManifest], new_clusters: dict[str, ClusterManifest],
           hosts: tuple[str, ...]) -> list[HostPlan]:
    """Hosts' and clusters' plans, by name."""
    plans = plan_hosts(_only(old, hosts), _only(new, hosts))
    plans += plan_clusters(_only(old_clusters, hosts), _only(new_clusters, hosts))
    return sorted(plans, key=lambda p: p.host)


def plan_bundles(old: Path, new: Path, hosts: tuple[str, ...] = ()) -> PlanResult:
    """Compare two bundle folders (one host's bundle or cluster's tree each, or folders of
    them as `compile` writes)."""
    return PlanResult(_plans(read_bundles(old), read_bundles(new),
                             read_cluster_manifests(old), read_cluster_manifests(new), hosts))


def compiled(root: Path, rev: str | None, jobs: int | None = None
             ) -> tuple[dict[str, Manifest], dict[str, ClusterManifest], list[Diagnostic]]:
    """Hosts' and clusters' manifests of the inventory at ``root`` (no Secret made: no key)."""
    result = compile_inventory(root, revision=rev, jobs=jobs)
    return ({h: b.manifest for h, b in result.bundles.items()},
            {c: t.manifest for c, t in result.trees.items()}, result.diagnostics)


def plan_against_revision(root: Path, base: str, hosts: tuple[str, ...] = (),
                          jobs: int | None = None) -> PlanResult:
    """Compile the inventory at git revision ``base`` and in the working tree; compare."""
    if not root.is_dir():
        raise UsageError(f"{root}: no such inventory folder")
    top = repo_root(root)
    base_sha = _git(top, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}").decode().strip()
    new, new_clusters, diagnostics = compiled(root, revision(root), jobs)
    result = PlanResult([], diagnostics)
    if not result.ok:
        return result
    with tempfile.TemporaryDirectory(prefix="hznctl-plan-") as tmp:
        old_root = materialize(root, base_sha, Path(tmp))
        old, old_clusters, old_diagnostics = compiled(old_root, base_sha, jobs)
    if any(d.is_error for d in old_diagnostics):
        result.notes.append(f"the inventory at {base} ({base_sha[:12]}) is invalid or "
                            "missing: planned as if no host ran anything")
    result.plans = _plans(old, new, old_clusters, new_clusters, hosts)
    return result
