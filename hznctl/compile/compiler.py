"""`compile`: validated inventory → one bundle per host (in memory; ``bundle`` writes them)."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from pydantic import ValidationError

from hznctl.bundle import GroupEntry, HostBundle, Manifest, SupervisordRef, sha256_hex
from hznctl.compile import parallel
from hznctl.compile.ini import UnsafeValue
from hznctl.compile.programs import HostCompiler, HostProgram, Program, ProgramBuilder
from hznctl.compile.render import GENERATOR, make_environment, render_program
from hznctl.compile.verify import Verifier, VerifyError
from hznctl.diagnostics import Diagnostic
from hznctl.errors import HznctlError, UsageError
from hznctl.inventory import Inventory
from hznctl.models import Host
from hznctl.models.host import HostTarget
from hznctl.placement import groups_by_host
from hznctl.runtimes import CommandProblem
from hznctl.validate import validate_inventory


class CompileError(HznctlError):
    """A bundle could not be built; nothing is written."""


@dataclass
class CompileResult:
    diagnostics: list[Diagnostic]
    bundles: dict[str, HostBundle] = field(default_factory=dict)
    # Kubernetes clusters' trees (hznctl.targets.kubernetes), their Secrets not yet made.
    trees: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


class SecretFiles:
    """The inventory's SOPS files, read once each (copied into bundles, never decrypted)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._data: dict[str, bytes] = {}
        self._hashes: dict[str, str] = {}

    def read(self, rel: str) -> bytes:
        if rel not in self._data:
            path = self.root / rel
            if not path.resolve().is_relative_to(self.root.resolve()):
                raise CompileError(f"{rel}: secret file points outside the inventory folder")
            try:
                self._data[rel] = path.read_bytes()
            except OSError as exc:
                raise CompileError(f"{path}: cannot read secret file: "
                                   f"{exc.strerror or exc}") from None
        return self._data[rel]

    def hash(self, rel: str) -> str:
        if rel not in self._hashes:
            self._hashes[rel] = sha256_hex(self.read(rel))
        return self._hashes[rel]


def compile_inventory(root: Path, *, hosts: Sequence[str] = (), revision: str | None = None,
                      templates: jinja2.Environment | None = None,
                      jobs: int | None = None, target: str | None = None) -> CompileResult:
    """Validate ``root`` and, when it is valid, build the bundles of ``hosts`` (all if empty).

    ``target``: only the hosts of that target (``supervisord``, ``kubernetes``).

    ``jobs``: processes to build on (None: one per core; see ``parallel``).
    """
    validation = validate_inventory(root)
    result = CompileResult(validation.diagnostics)
    if not validation.ok():
        return result
    if target is not None:  # only the hosts of this target (all of them unless ``hosts``)
        kind = validation.inventory.hosts
        hosts = [n for n in (hosts or sorted(kind))  # an unknown name is reported below
                 if n not in kind or (kind[n].active and kind[n].target.value == target)]
        if not hosts:
            return result
    result.bundles = build_bundles(validation.inventory, hosts=hosts, revision=revision,
                                   templates=templates,
                                   jobs=parallel.default_jobs() if jobs is None else jobs)
    result.trees = build_trees(validation.inventory, hosts=hosts, revision=revision)
    return result


def build_trees(inventory: Inventory, *, hosts: Sequence[str] = (),
                revision: str | None = None) -> dict[str, Any]:
    """The trees of the clusters among ``hosts`` (every active cluster if empty)."""
    from hznctl.targets.kubernetes.target import TARGET, cluster_names

    clusters = [n for n in cluster_names(inventory) if not hosts or n in hosts]
    return TARGET.build(inventory, clusters, revision) if clusters else {}


def build_bundles(inventory: Inventory, *, hosts: Sequence[str] = (),
                  revision: str | None = None,
                  templates: jinja2.Environment | None = None,
                  jobs: int = 1) -> dict[str, HostBundle]:
    """The bundles of ``hosts`` (all active hosts if empty), in their order."""
    placed = groups_by_host(inventory)
    unknown = sorted(set(hosts) - set(placed))
    if unknown:
        raise UsageError(f"no active host named {', '.join(unknown)} in the inventory "
                         f"(hosts: {', '.join(placed) or 'none'})")
    names = [n for n in (list(hosts) or list(placed))
             if inventory.hosts[n].target is HostTarget.SUPERVISORD]

    def build(run: Sequence[str]) -> dict[str, HostBundle]:
        return _build_bundles(inventory, run, revision, templates)

    with _no_cycle_collection():
        return parallel.build_in_parallel(build, names, [len(placed[n]) for n in names],
                                          jobs)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Nearly everything a compile makes lives on in the bundles: Python's collector would
    scan it, and the whole inventory, again and again for cycles that are not there (a
    quarter of the build's time on a large inventory). Leftover cycles go at its next run."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build_bundles(inventory: Inventory, hosts: Sequence[str], revision: str | None,
                   templates: jinja2.Environment | None) -> dict[str, HostBundle]:
    placed = groups_by_host(inventory)
    env = templates or make_environment(inventory.root)
    secrets = SecretFiles(inventory.root)
    verifier = Verifier()
    builder = ProgramBuilder(inventory, secrets.hash)
    outputs: dict[Program, _Output] = {}
    bundles = {}
    for name in hosts:
        compiler = HostCompiler(inventory.hosts[name], builder)
        try:
            programs = compiler.programs(placed[name])
        except (UnsafeValue, CommandProblem) as exc:
            raise CompileError(f"host {name}: {exc}") from None
        except ValidationError as exc:  # an exec spec the inventory's rules let through
            raise CompileError(f"host {name}: cannot build an exec spec: "
                               f"{exc.errors(include_url=False)[0]['msg']}") from None
        bundles[name] = _host_bundle(inventory.hosts[name], programs, secrets, env, verifier,
                                     outputs, revision)
    return bundles


@dataclass(frozen=True)
class _Output:
    """What a program puts in every bundle that has it, made once per compile."""

    text: str
    data: bytes
    sha256: str
    exec_sha256: str
    entry: GroupEntry


def _output(program: Program, env: jinja2.Environment, host: str) -> _Output:
    where = f"host {host}, program {program.group}"
    try:
        text = render_program(program, env)
    except UnsafeValue as exc:
        raise CompileError(f"{where}: {exc}") from None
    except jinja2.TemplateError as exc:
        raise CompileError(f"{where}: template {program.runtime.template}: {exc}") from None
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise CompileError(f"{where}: template {program.runtime.template} writes "
                           f"{text[exc.start]!a}: supervisord reads its configuration in the "
                           "locale's encoding, so program files hold only ASCII") from None
    sha256 = sha256_hex(data)
    return _Output(text, data, sha256, sha256_hex(program.exec_json),
                   _group_entry(program, sha256))


def _verify(text: str, program: Program, verifier: Verifier, host: str) -> None:
    try:
        verifier.verify(text, program)
    except (UnsafeValue, VerifyError) as exc:
        raise CompileError(f"host {host}, program {program.group}: {exc}") from None


def _host_bundle(host: Host, programs: list[HostProgram], secrets: SecretFiles,
                 env: jinja2.Environment, verifier: Verifier,
                 outputs: dict[Program, _Output], revision: str | None) -> HostBundle:
    files: dict[str, bytes] = {}
    hashes: dict[str, str] = {}
    groups: dict[str, GroupEntry] = {}
    rendered = []
    for placed in programs:  # render what this compile has not yet, then read it back
        if placed.program not in outputs:
            output = outputs[placed.program] = _output(placed.program, env, host.name)
            rendered.append(output.text)
    verifier.read(rendered)  # their lines at once: much cheaper than one file at a time
    for placed in programs:
        program = placed.program
        output = outputs[program]
        _verify(output.text, program, verifier, host.name)
        files[program.file] = output.data
        hashes[program.file] = output.sha256
        files[program.exec_path] = program.exec_json
        hashes[program.exec_path] = output.exec_sha256
        for path, data in placed.files.items():
            files[path] = data
            hashes[path] = sha256_hex(data)
        for bundle_path, sops_path in program.secret_sources.items():
            files[bundle_path] = secrets.read(sops_path)
            hashes[bundle_path] = secrets.hash(sops_path)
        groups[program.group] = output.entry
    sv = host.supervisord
    manifest = Manifest(
        generator=GENERATOR, host=host.name, environment=host.environment, revision=revision,
        supervisord=SupervisordRef(url=sv.url, include_dir=sv.include_dir,
                                   state_dir=sv.state_dir, log_dir=sv.log_dir),
        groups=groups,
        files={p: hashes[p] for p in sorted(files)},
    )
    return HostBundle(host.name, manifest, dict(sorted(files.items())))


def _group_entry(program: Program, sha256: str) -> GroupEntry:
    # Every value is already of its field's type: a validation per program would only
    # repeat what the types say (the manifest holding them is still validated).
    return GroupEntry.model_construct(
        application=program.application.slug,
        worker=program.worker.name if program.worker else None,
        runtime=program.runtime.runtime.value,
        file=program.file,
        sha256=sha256,
        processes=program.numprocs,
        process_names=program.process_names(),
        startsecs=int(str(program.options["startsecs"])),
        stopwaitsecs=int(str(program.options["stopwaitsecs"])),
        settings=program.settings(),
        files=program.files,
        parameters=program.parameters,
    )
