"""Plans between compiled inventories: two bundle folders, or a git revision and the tree."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hznctl.bundle import Manifest, read_bundles
from hznctl.compile.compiler import compile_inventory
from hznctl.diagnostics import Diagnostic
from hznctl.errors import no_inventory
from hznctl.gitrev import materialize, resolve_revision, revision
from hznctl.plan import HostPlan, plan_hosts


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


def _only(manifests: dict[str, Manifest], hosts: tuple[str, ...]) -> dict[str, Manifest]:
    return {h: m for h, m in manifests.items() if not hosts or h in hosts}


def plan_bundles(old: Path, new: Path, hosts: tuple[str, ...] = ()) -> PlanResult:
    """Compare two bundle folders (one host's bundle each, or folders of host bundles)."""
    return PlanResult(plan_hosts(_only(read_bundles(old), hosts), _only(read_bundles(new),
                                                                        hosts)))


def compiled_manifests(root: Path, rev: str | None, jobs: int | None = None
                       ) -> tuple[dict[str, Manifest], list[Diagnostic]]:
    result = compile_inventory(root, revision=rev, jobs=jobs)
    return {h: b.manifest for h, b in result.bundles.items()}, result.diagnostics


def plan_against_revision(root: Path, base: str, hosts: tuple[str, ...] = (),
                          jobs: int | None = None) -> PlanResult:
    """Compile the inventory at git revision ``base`` and in the working tree; compare."""
    if not root.is_dir():
        raise no_inventory(str(root))
    base_sha = resolve_revision(root, base)
    new, diagnostics = compiled_manifests(root, revision(root), jobs)
    result = PlanResult([], diagnostics)
    if not result.ok:
        return result
    with tempfile.TemporaryDirectory(prefix="hznctl-plan-") as tmp:
        old_root = materialize(root, base_sha, Path(tmp))
        old, old_diagnostics = compiled_manifests(old_root, base_sha, jobs)
    if any(d.is_error for d in old_diagnostics):
        result.notes.append(f"the inventory at {base} ({base_sha[:12]}) is invalid or "
                            "missing: planned as if no host ran anything")
    result.plans = plan_hosts(_only(old, hosts), _only(new, hosts))
    return result
