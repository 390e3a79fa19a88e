"""Plans between two bundle folders, and the result every plan command shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hznctl.bundle.manifest import Manifest, read_bundles
from hznctl.diagnostics import Diagnostic
from hznctl.plan.model import HostPlan, plan_hosts


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


def only_hosts(manifests: dict[str, Manifest], hosts: tuple[str, ...]) -> dict[str, Manifest]:
    """The manifests of ``hosts`` (all when empty)."""
    return {h: m for h, m in manifests.items() if not hosts or h in hosts}


def plan_bundles(old: Path, new: Path, hosts: tuple[str, ...] = ()) -> PlanResult:
    """Compare two bundle folders (one host's bundle each, or folders of host bundles)."""
    return PlanResult(plan_hosts(only_hosts(read_bundles(old), hosts),
                                 only_hosts(read_bundles(new), hosts)))
