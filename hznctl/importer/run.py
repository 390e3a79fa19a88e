"""`hznctl import supervisord`: read, build, apply through the checked path, round-trip."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hznctl.diagnostics import Diagnostic
from hznctl.errors import HznctlError
from hznctl.importer import build
from hznctl.importer.build import Builder, Imported, ImportPlan, Options
from hznctl.importer.edit import add_host
from hznctl.importer.roundtrip import Difference, compare
from hznctl.importer.source import ImportError_, read_sources
from hznctl.inventory import Inventory, display_path, load_inventory
from hznctl.models import Runtime
from hznctl.scaffold.staging import apply_checked, relocated
from hznctl.scaffold.workers import add_worker
from hznctl.secrets.decrypt import Identities
from hznctl.yamlio import load_document


@dataclass
class ImportResult:
    plan: ImportPlan
    written: list[str]
    differences: list[Difference]
    warnings: list[Diagnostic] = field(default_factory=list)
    dry_run: bool = False


def _inventory(root: Path) -> Inventory:
    if not (root / "project.yaml").is_file():
        raise HznctlError(f"{display_path(root)} is not an inventory (no project.yaml); make "
                          "one with `hznctl init`, then import into its inventory/")
    loaded = load_inventory(root)
    errors = [d for d in loaded.diagnostics if d.is_error]
    if errors:
        raise HznctlError(f"the inventory has {len(errors)} error(s) (first: "
                          f"{errors[0].text()}); fix them before importing")
    return loaded.inventory


def plan_import(root: Path, files: Sequence[Path], options: Options) -> ImportPlan:
    """What importing ``files`` for ``options.host`` writes; reads, never writes."""
    inventory = _inventory(root)
    host = inventory.hosts.get(options.host)
    if host is not None:
        options.environment = options.environment or host.environment
        if options.environment != host.environment:
            raise ImportError_(f"host {options.host} is in {host.environment}, not "
                               f"{options.environment}")
    elif options.environment is None and inventory.project is not None and len(
            inventory.project.environments) == 1:
        options.environment = inventory.project.environments[0]
    if options.connection and options.connection not in inventory.connections:
        raise ImportError_(f"no connection {options.connection!r} in the inventory")
    sources = read_sources(files)
    builder = Builder(inventory, options)
    builder.plan.warnings.extend(sources.warnings)
    for program in sources.programs:
        builder.add(program)
    plan = builder.plan
    if not plan.programs:
        raise ImportError_("no program could be imported"
                           + (f" ({len(plan.warnings)} warning(s) say why)" if plan.warnings
                              else ""))
    if host is None:
        if plan.passwords and options.age_recipient is None:
            raise ImportError_(f"host {options.host} is new and its workers need passwords: "
                               "give its age public key with --age-recipient (make one with "
                               f"`hznctl secrets keygen --host {options.host} --out FILE`)")
        relative, text = build.host_document(options, root)
        plan.writes[relative] = text
        plan.new.add(relative)
    assert options.environment is not None
    by_app: dict[str, list[Imported]] = {}
    for imported in plan.programs:
        by_app.setdefault(imported.application, []).append(imported)
    connections = {id(i): builder.connection_for(i) for i in plan.programs}
    for name, address in sorted(builder.new_connections.items()):
        relative, text = build.connection_document(name, address, options.environment, root)
        plan.writes[relative] = text
        plan.new.add(relative)
    for slug, programs in sorted(by_app.items()):
        _application(root, inventory, builder, slug, programs, connections, options)
    return plan


def _application(root: Path, inventory: Inventory, builder: Builder, slug: str,
                 programs: list[Imported], connections: dict[int, str],
                 options: Options) -> None:
    plan = builder.plan
    existing = inventory.applications.get(slug)
    used = Counter(connections[id(p)] for p in programs)
    if existing is None:
        primary = sorted(used, key=lambda c: (-used[c], c))[0]
        bound = [primary, *sorted(set(used) - {primary})]
    else:
        binding = existing.primary_binding()
        primary = binding.connection if binding else ""
        missing = sorted(set(used) - {b.connection for b in existing.connections})
        if missing:
            raise ImportError_(f"application {slug} does not bind {', '.join(missing)}; add "
                               "the binding first or pass --connection")
        bound = []
    users = {p.recognized.worker.get("_user") for p in programs}
    if len(users) > 1:
        plan.warnings.append(programs[0].source.warning(
            "user", f"the programs of {slug} run as different users "
            f"({', '.join(sorted(str(u) for u in users))}); the application runs them all "
            "as the first"))
    # Horizon's worker groups are its supervisors, which config/horizon.php holds
    # (`hznctl import horizon`); its program says only where the application runs.
    workers = [build.worker_data(p, connections[id(p)], primary, options.host,
                                 builder.worker_env(p)) for p in programs
               if p.recognized.runtime is not Runtime.LARAVEL_HORIZON]
    programs = [p for p in programs if p.recognized.runtime is not Runtime.LARAVEL_HORIZON]
    if existing is None:
        first = programs[0] if programs else next(
            p for p in plan.programs if p.application == slug)
        retry_after = _retry_after([first], workers, plan)
        relative, text = build.application_document(slug, first, bound,
                                                    options.environment or "", workers, root,
                                                    retry_after)
        plan.writes[relative] = text
        plan.new.add(relative)
        return
    relative = f"applications/{slug}.yaml"
    path = root / relative
    text = plan.writes.get(relative) or path.read_text(encoding="utf-8")
    current = load_document(path, display_path(path)).data.get("workers") or []
    for imported, worker in zip(programs, workers, strict=True):
        match = next((i for i, w in enumerate(current) if isinstance(w, dict)
                      and build.same_group(w, worker)), None)
        if match is not None:
            text = add_host(text, match, options.host, display_path(path))
            imported.group = str(current[match]["name"])
        else:
            text = add_worker(text, worker, display_path(path))
    plan.writes[relative] = text


def _retry_after(programs: list[Imported], workers: list[dict[str, Any]],
                 plan: ImportPlan) -> int | None:
    """A retry_after above every group's timeout, where the runtime's default is not."""
    from hznctl.models.application import DEFAULT_RETRY_AFTER

    default = DEFAULT_RETRY_AFTER[programs[0].recognized.runtime]
    longest = max((int(w.get("timeout", 60)) for w in workers), default=0)
    if default is None or longest < default:
        return None
    chosen = longest + 30
    plan.warnings.append(programs[0].source.warning(
        "command", f"a job timeout of {longest}s is not below the runtime's default retry "
        f"after ({default}s), so a running job would be handed to a second worker: imported "
        f"with retry_after: {chosen}; make the application's queue configuration say the same"))
    return chosen


def _prepare(plan: ImportPlan, identities: Identities | None) -> Any:
    def prepare(staged: Path) -> None:
        from hznctl.secrets.manage import set_password

        for connection, value in sorted(plan.passwords.items()):
            set_password(staged, connection, value, identities=identities)
    return prepare


def run_import(root: Path, files: Sequence[Path], options: Options, *,
               dry_run: bool = False, identities: Identities | None = None) -> ImportResult:
    """Import ``files`` into the inventory at ``root`` (or, dry, into a scratch copy)."""
    plan = plan_import(root, files, options)
    with tempfile.TemporaryDirectory(prefix="hznctl-import-") as scratch:
        target = root
        if dry_run:
            target = Path(scratch) / "inventory"
            shutil.copytree(root, target, symlinks=True)
        applied = apply_checked(target, plan.writes, new=frozenset(plan.new),
                                prepare=_prepare(plan, identities), identities=identities)
        differences = compare(plan.programs, target, options.host)
    # A dry run validates a scratch copy: its findings name the operator's own files.
    warnings = [relocated(d, root, target) for d in applied.warnings]
    return ImportResult(plan, applied.written, differences, warnings, dry_run)
