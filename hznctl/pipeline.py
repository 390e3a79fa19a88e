"""The pipeline the commands compose: validate the inventory, then build its bundles.

`compile` writes what ``compile_inventory`` returns; `plan --base` runs it on two
revisions (``plan_against_revision``); `plan OLD NEW` and `deploy` read built bundles only.
Validation never depends on a build, and the compiler core never validates: an inventory
reaches a build only through ``compile_inventory``, or already validated.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hznctl import targets
from hznctl.bundle.manifest import HostBundle, Manifest
from hznctl.compile import parallel
from hznctl.diagnostics import Diagnostic
from hznctl.errors import UsageError
from hznctl.gitrev import materialize, repo_root, resolve_revision, revision
from hznctl.inventory import Inventory
from hznctl.placement import groups_by_host
from hznctl.plan.compare import PlanResult, only_hosts
from hznctl.plan.model import plan_hosts
from hznctl.system import paused_gc
from hznctl.validate import validate_inventory


@dataclass
class CompileResult:
    diagnostics: list[Diagnostic]
    bundles: dict[str, HostBundle] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def compile_inventory(root: Path, *, hosts: Sequence[str] = (), revision: str | None = None,
                      templates: Any = None,
                      jobs: int | None = None) -> CompileResult:
    """Validate ``root`` and, when it is valid, build the bundles of ``hosts`` (all if empty).

    ``jobs``: processes to build on (None: one per core; see ``parallel``).
    """
    validation = validate_inventory(root)
    result = CompileResult(validation.diagnostics)
    if not validation.ok():
        return result
    result.bundles = build_bundles(validation.inventory, hosts=hosts, revision=revision,
                                   templates=templates,
                                   jobs=parallel.default_jobs() if jobs is None else jobs)
    return result


def build_bundles(inventory: Inventory, *, hosts: Sequence[str] = (),
                  revision: str | None = None,
                  templates: Any = None,
                  jobs: int = 1) -> dict[str, HostBundle]:
    """The bundles of ``hosts`` (all active hosts if empty), in their order, each built by
    its host's target; ``templates``: the target's template environment (None: its own)."""
    placed = groups_by_host(inventory)
    unknown = sorted(set(hosts) - set(placed))
    if unknown:
        raise UsageError(f"no active host named {', '.join(unknown)} in the inventory "
                         f"(hosts: {', '.join(placed) or 'none'})")
    names = list(hosts) or list(placed)

    supervisord = targets.target(targets.DEFAULT)

    def build(run: Sequence[str]) -> dict[str, HostBundle]:
        return supervisord.build(inventory, run, revision, templates)

    with paused_gc():
        return parallel.build_in_parallel(build, names, [len(placed[n]) for n in names],
                                          jobs)


def compiled_manifests(root: Path, rev: str | None, jobs: int | None = None
                       ) -> tuple[dict[str, Manifest], list[Diagnostic]]:
    result = compile_inventory(root, revision=rev, jobs=jobs)
    return {h: b.manifest for h, b in result.bundles.items()}, result.diagnostics


def plan_against_revision(root: Path, base: str, hosts: tuple[str, ...] = (),
                          jobs: int | None = None) -> PlanResult:
    """Compile the inventory at git revision ``base`` and in the working tree; compare."""
    if not root.is_dir():
        raise UsageError(f"{root}: no such inventory folder")
    top = repo_root(root)
    base_sha = resolve_revision(top, base)
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
    result.plans = plan_hosts(only_hosts(old, hosts), only_hosts(new, hosts))
    return result
