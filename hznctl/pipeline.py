"""The pipeline the commands compose: validate the inventory, then build its bundles.

`compile` writes each bundle as it is built (``compile_into``); `plan --base` builds two
revisions in memory (``compile_inventory``, ``plan_against_revision``); `plan OLD NEW` and
`deploy` read built bundles only. Validation never depends on a build, and the compiler
core never validates: an inventory reaches a build only through ``compile_inventory`` or
``compile_into``, or already validated.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hznctl import targets
from hznctl.bundle.manifest import HostBundle, Manifest
from hznctl.bundle.writer import BundleWriter, UntrustedListing, WriteResult
from hznctl.compile import parallel
from hznctl.diagnostics import Diagnostic
from hznctl.errors import UsageError, no_inventory
from hznctl.gitrev import copy_revision, materialize, resolve_revision, revision
from hznctl.inventory import Inventory, reusing
from hznctl.placement import PlacedGroup, groups_by_host
from hznctl.plan import digest
from hznctl.plan.compare import PlanResult, all_plans
from hznctl.plan.model import HostPlan
from hznctl.system import paused_gc
from hznctl.targets.kubernetes.manifest import ClusterManifest
from hznctl.targets.kubernetes.secrets import IdentitySource
from hznctl.targets.kubernetes.target import KubernetesTarget
from hznctl.targets.kubernetes.tree import ClusterTree
from hznctl.targets.supervisord.build import building_beside
from hznctl.validate import validate_inventory

HostProgress = Callable[[int, int], None]  # (hosts just built, hosts in all)


@dataclass
class CompileResult:
    diagnostics: list[Diagnostic]
    bundles: dict[str, HostBundle] = field(default_factory=dict)
    # Kubernetes clusters' trees, their Secrets made when written (targets.kubernetes).
    trees: dict[str, ClusterTree] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def compile_inventory(root: Path, *, hosts: Sequence[str] = (), revision: str | None = None,
                      templates: Any = None,
                      jobs: int | None = None, target: str | None = None,
                      progress: HostProgress | None = None) -> CompileResult:
    """Validate ``root`` and, when it is valid, build the bundles of ``hosts`` (all if empty).

    ``jobs``: processes to build on (None: one per core; see ``parallel``). ``target``: only
    the hosts of that target (``supervisord``, ``kubernetes``). ``progress(built, total)``:
    told of hosts as they are built (for a progress bar). Every bundle is in memory at the
    end: ``compile_into`` writes them as they are built instead.
    """
    diagnostics, inventory, chosen = _validated(root, hosts, target)
    result = CompileResult(diagnostics)
    if inventory is None:
        return result
    result.bundles = build_bundles(inventory, hosts=chosen, revision=revision,
                                   templates=templates,
                                   jobs=parallel.default_jobs() if jobs is None else jobs,
                                   progress=progress)
    result.trees = build_trees(inventory, hosts=chosen, revision=revision)
    return result


def _validated(root: Path, hosts: Sequence[str], target: str | None
               ) -> tuple[list[Diagnostic], Inventory | None, Sequence[str]]:
    """The inventory at ``root`` validated, and which of its hosts to build: ``hosts``
    (empty: all) of ``target`` (None: any). No inventory when it is invalid or when no
    host of ``target`` is left to build."""
    validation = validate_inventory(root)
    if not validation.ok():
        return validation.diagnostics, None, ()
    if target is None:
        return validation.diagnostics, validation.inventory, hosts
    known = validation.inventory.hosts
    chosen = [n for n in (hosts or sorted(known))  # an unknown name is reported later
              if n not in known or (known[n].active and known[n].target.value == target)]
    return validation.diagnostics, validation.inventory if chosen else None, chosen


@dataclass(frozen=True)
class BundleSummary:
    """What `compile` says of a host's bundle once written: its program groups (sorted)
    and their processes."""

    groups: list[str]
    processes: int


@dataclass
class CompiledInto:
    """What ``compile_into`` did."""

    diagnostics: list[Diagnostic]
    hosts: dict[str, BundleSummary] = field(default_factory=dict)
    trees: dict[str, ClusterTree] = field(default_factory=dict)
    written: WriteResult = field(default_factory=WriteResult)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def compile_into(root: Path, out: Path, identities: IdentitySource, *,
                 hosts: Sequence[str] = (), revision: str | None = None,
                 jobs: int | None = None, target: str | None = None,
                 progress: HostProgress | None = None) -> CompiledInto:
    """``compile_inventory`` written to ``out`` (``write_bundles``) as each bundle is
    built: a host's bundle is written and let go before the next is made, so a compile
    holds the inventory and the programs in use, not every bundle of the fleet.

    ``out`` holds the old bundles until every one is built and written, then the new ones
    (one rename); a failure on the way leaves it untouched. Other hosts' bundles are
    kept when ``hosts`` or ``target`` chooses some; ``identities``: what clusters' new
    Secrets are encrypted with (``targets.kubernetes.target.finish``)."""
    diagnostics, inventory, chosen = _validated(root, hosts, target)
    result = CompiledInto(diagnostics)
    if inventory is None:
        return result
    inventory.forget_documents()  # room for the build
    jobs = parallel.default_jobs() if jobs is None else jobs
    prune = not hosts and target is None
    try:
        _write_into(result, inventory, root, out, identities, chosen, revision, jobs,
                    progress, prune, trust_inodes=True)
    except UntrustedListing:
        # Listings whose inode numbers are not the files': built again, every existing
        # file read (the bundles were let go).
        _write_into(result, inventory, root, out, identities, chosen, revision, jobs, None,
                    prune, trust_inodes=False)
    return result


def _write_into(result: CompiledInto, inventory: Inventory, root: Path, out: Path,
                identities: IdentitySource, hosts: Sequence[str], revision: str | None,
                jobs: int, progress: HostProgress | None, prune: bool, *,
                trust_inodes: bool) -> None:
    from hznctl.targets.kubernetes.target import finish

    result.hosts = {}
    with BundleWriter(out, prune=prune, trust_inodes=trust_inodes) as writer:
        for host, bundle in stream_bundles(inventory, hosts=hosts, revision=revision,
                                           jobs=jobs, progress=progress):
            groups = bundle.manifest.groups
            result.hosts[host] = BundleSummary(sorted(groups),
                                               sum(g.processes for g in groups.values()))
            writer.add(host, bundle)
        result.trees = build_trees(inventory, hosts=hosts, revision=revision)
        for name, cluster in finish(result.trees, root, out, identities).items():
            writer.add(name, cluster)
        result.written = writer.finish()


def _target_of(inventory: Inventory, host: str) -> str:
    return inventory.hosts[host].target.value


def build_trees(inventory: Inventory, *, hosts: Sequence[str] = (),
                revision: str | None = None) -> dict[str, ClusterTree]:
    """The trees of the Kubernetes clusters among ``hosts`` (every active one if empty);
    their Secrets are made when they are written (``targets.kubernetes.target.finish``)."""
    clusters = [n for n in sorted(groups_by_host(inventory))
                if _target_of(inventory, n) == "kubernetes" and (not hosts or n in hosts)]
    if not clusters:
        return {}
    kubernetes: KubernetesTarget = targets.target("kubernetes")  # type: ignore[assignment]
    return kubernetes.build(inventory, clusters, revision)


def build_bundles(inventory: Inventory, *, hosts: Sequence[str] = (),
                  revision: str | None = None,
                  templates: Any = None,
                  jobs: int = 1, progress: HostProgress | None = None
                  ) -> dict[str, HostBundle]:
    """The bundles of ``hosts`` (all active hosts if empty), in their order, each built by
    its host's target; ``templates``: the target's template environment (None: its own)."""
    return dict(stream_bundles(inventory, hosts=hosts, revision=revision,
                               templates=templates, jobs=jobs, progress=progress))


def stream_bundles(inventory: Inventory, *, hosts: Sequence[str] = (),
                   revision: str | None = None, templates: Any = None,
                   jobs: int = 1, progress: HostProgress | None = None
                   ) -> Iterator[tuple[str, HostBundle]]:
    """``build_bundles`` one bundle at a time, in host order: each is built when asked for
    (on this process; runs of hosts built ahead on forked ones with ``jobs`` > 1)."""
    placed = groups_by_host(inventory)
    unknown = sorted(set(hosts) - set(placed))
    if unknown:
        raise UsageError(f"no active host named {', '.join(unknown)} in the inventory "
                         f"(hosts: {', '.join(placed) or 'none'})")
    names = [n for n in dict.fromkeys(hosts or placed)
             if _target_of(inventory, n) == targets.DEFAULT]  # clusters: build_trees

    supervisord = targets.target(targets.DEFAULT)

    parent = os.getpid()

    def built(count: int) -> None:
        if progress is not None and os.getpid() == parent:  # never from a forked builder
            progress(count, len(names))

    def build(run: Sequence[str]) -> Iterator[tuple[str, HostBundle]]:
        for item in supervisord.build_each(inventory, run, revision, templates):
            yield item
            built(1)

    with paused_gc():
        yield from parallel.stream_in_parallel(build, names, [len(placed[n]) for n in names],
                                               jobs, built)


def compiled_manifests(root: Path, rev: str | None, jobs: int | None = None
                       ) -> tuple[dict[str, Manifest], list[Diagnostic]]:
    manifests, _, diagnostics = compiled(root, rev, jobs)
    return manifests, diagnostics


def compiled(root: Path, rev: str | None, jobs: int | None = None
             ) -> tuple[dict[str, Manifest], dict[str, ClusterManifest], list[Diagnostic]]:
    """Hosts' and clusters' manifests of the inventory at ``root`` (no Secret is made, so
    no key is needed)."""
    result = compile_inventory(root, revision=rev, jobs=jobs)
    return ({h: b.manifest for h, b in result.bundles.items()},
            {c: t.manifest for c, t in result.trees.items()}, result.diagnostics)


def plan_against_revision(root: Path, base: str, hosts: tuple[str, ...] = (),
                          jobs: int | None = None) -> PlanResult:
    """The plan from the inventory at git revision ``base`` to the working tree.

    Both are validated; a host is compiled (on both sides) only when what its bundle is
    made from differs (``plan.digest``): the other hosts run the same bundle but for the
    revision it names, and are planned unchanged from their groups' names. The result is
    that of compiling every host of both and comparing (``plan_fully``)."""
    if not root.is_dir():
        raise no_inventory(str(root))
    base_sha = resolve_revision(root, base)
    head_rev = revision(root)
    head = validate_inventory(root)
    result = PlanResult([], head.diagnostics)
    if not result.ok:
        return result
    jobs = parallel.default_jobs() if jobs is None else jobs
    head_placed = groups_by_host(head.inventory)
    head_hosts = _supervisord_hosts(head.inventory, head_placed, hosts)
    # The files validated just now are taken as they were read (the plan is of what was
    # validated), the others read.
    head_inputs = digest.read_inputs(root, {os.fspath(doc.path): doc.blob for doc in
                                            head.inventory.documents.values() if doc.blob})
    with contextlib.ExitStack() as stack:
        old_root, old_inputs = _copied(root, base_sha, head_inputs, stack)
        same = [rel for rel, sha in old_inputs.files.items()
                if head_inputs.files.get(rel) == sha]
        with reusing(head.inventory, frozenset(same)):  # files of both: loaded once
            old = validate_inventory(old_root)
        if not old.ok():
            result.notes.append(_invalid_base(base, base_sha))
            new = _build_some(head.inventory, head_hosts, head_rev, jobs)
            new_trees = build_trees(head.inventory, revision=head_rev)
            result.plans = all_plans({}, _manifests(new), {}, _tree_manifests(new_trees),
                                     hosts)
            return result
        old_placed = groups_by_host(old.inventory)
        old_hosts = _supervisord_hosts(old.inventory, old_placed, hosts)
        both = sorted(set(head_hosts) & set(old_hosts))
        edited = {slug for slug in {*head.inventory.applications, *old.inventory.applications}
                  if head_inputs.digest("application", slug)
                  != old_inputs.digest("application", slug)}
        alike = digest.alike_hosts(digest.Side(head.inventory, head_inputs, head_placed),
                                   digest.Side(old.inventory, old_inputs, old_placed), both,
                                   edited)
        changed_new = [h for h in head_hosts if h not in alike]
        changed_old = [h for h in old_hosts if h not in alike]
        # A few hosts built on both sides share what they are made of; a fleet's worth is
        # built side after side, each letting go of its programs as it goes.
        few = len(changed_new) + len(changed_old) <= max(
            _SHARED_BUILD_HOSTS, (len(head_hosts) + len(old_hosts)) // 10)
        with (building_beside(_templates(head_inputs) == _templates(old_inputs)) if few
              else contextlib.nullcontext()):
            new = _build_some(head.inventory, changed_new, head_rev, jobs)
            before = _build_some(old.inventory, changed_old, base_sha, jobs)
        new_trees = build_trees(head.inventory, revision=head_rev)
        old_trees = build_trees(old.inventory, revision=base_sha)
    plans = all_plans(_manifests(before), _manifests(new), _tree_manifests(old_trees),
                      _tree_manifests(new_trees), hosts)
    plans += [unchanged_plan(head.inventory, h, head_placed[h], base_sha, head_rev)
              for h in sorted(alike)]
    result.plans = sorted(plans, key=lambda p: p.host)
    return result


# A memory file system for the base revision's copy when it cannot be on the inventory's
# own (where its files the same as the working tree's are hard links): writing thousands
# of small files costs a journaling file system far more CPU than reading them.
_MEMORY = "/dev/shm"


def _copied(root: Path, sha: str, inputs: digest.InputFiles, stack: contextlib.ExitStack
            ) -> tuple[Path, digest.InputFiles]:
    """The inventory at ``sha`` written out into a temporary folder removed with
    ``stack`` (``gitrev.copy_revision``: its files the same as ``inputs``' linked from
    the working tree), and its inputs (read from git, not from the copy). The folder is
    TMPDIR when set; else the default temporary folder when it is on the inventory's file
    system, else memory when there is room there, else the default temporary folder."""
    candidates: list[str | None] = [None]
    if "TMPDIR" not in os.environ:
        default = tempfile.gettempdir()
        if not _same_device(default, root) and os.path.isdir(_MEMORY) and os.access(
                _MEMORY, os.W_OK | os.X_OK):
            candidates.insert(0, _MEMORY)
    for place in candidates:
        with contextlib.ExitStack() as attempt:
            try:
                tmp = tempfile.mkdtemp(prefix="hznctl-plan-", dir=place)
                # Removed without TemporaryDirectory's retries, which chmod what they
                # cannot remove: a linked file is the working tree's own.
                attempt.callback(shutil.rmtree, tmp, ignore_errors=True)
                copied = copy_revision(root, sha, Path(tmp), inputs.local)
            except OSError as exc:
                if place is None or exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
            else:
                stack.push(attempt.pop_all())
                return copied.root, digest.inputs_of(copied.blobs)
    raise AssertionError("unreachable: the last place raises")  # pragma: no cover


# Hosts built on both sides of a plan up to which their programs are kept for the other
# side (and above a tenth of the fleet's): a few thousand programs at most.
_SHARED_BUILD_HOSTS = 32


def _templates(inputs: digest.InputFiles) -> dict[str, str]:
    """The inventory's own templates (``templates/``), by content."""
    return {rel: sha for rel, sha in inputs.files.items() if rel.startswith("templates/")}


def _same_device(path: str, other: Path) -> bool:
    try:
        return os.stat(path).st_dev == os.stat(other).st_dev
    except OSError:
        return False


def _build_some(inventory: Inventory, hosts: list[str], rev: str | None, jobs: int
                ) -> dict[str, HostBundle]:
    """The bundles of exactly ``hosts`` (none for none: ``build_bundles`` builds all)."""
    return build_bundles(inventory, hosts=hosts, revision=rev, jobs=jobs) if hosts else {}


def _supervisord_hosts(inventory: Inventory, placed: dict[str, Any],
                       only: tuple[str, ...]) -> list[str]:
    return [n for n in placed if _target_of(inventory, n) == targets.DEFAULT
            and (not only or n in only)]


def _manifests(bundles: dict[str, HostBundle]) -> dict[str, Manifest]:
    return {h: b.manifest for h, b in bundles.items()}


def _tree_manifests(trees: dict[str, ClusterTree]) -> dict[str, ClusterManifest]:
    return {c: t.manifest for c, t in trees.items()}


def _invalid_base(base: str, base_sha: str) -> str:
    return (f"the inventory at {base} ({base_sha[:12]}) is invalid or missing: planned as "
            "if no host ran anything")


def unchanged_plan(inventory: Inventory, host: str, placed: list[PlacedGroup],
                   old_revision: str, new_revision: str | None) -> HostPlan:
    """The plan of a host whose bundle is made from the same inputs on both sides."""
    return HostPlan(host, [], [], [], digest.group_names(inventory, placed), {},
                    inventory.hosts[host].environment, old_revision, new_revision)


def plan_fully(root: Path, base: str, hosts: tuple[str, ...] = (),
               jobs: int | None = None) -> PlanResult:
    """``plan_against_revision`` by compiling every host of both revisions (what the
    incremental plan must equal; tests and benchmarks compare the two)."""
    if not root.is_dir():
        raise no_inventory(str(root))
    base_sha = resolve_revision(root, base)
    new, new_clusters, diagnostics = compiled(root, revision(root), jobs)
    result = PlanResult([], diagnostics)
    if not result.ok:
        return result
    with tempfile.TemporaryDirectory(prefix="hznctl-plan-") as tmp:
        old_root = materialize(root, base_sha, Path(tmp))
        old, old_clusters, old_diagnostics = compiled(old_root, base_sha, jobs)
    if any(d.is_error for d in old_diagnostics):
        result.notes.append(_invalid_base(base, base_sha))
    result.plans = all_plans(old, new, old_clusters, new_clusters, hosts)
    return result
