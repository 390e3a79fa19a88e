"""Building supervisord bundles: each host's programs rendered, read back, and listed.

Each distinct program of a compile is rendered and read back once, however many hosts
run it; a host's bundle is its programs' files, their exec specs, secret and Horizon files,
and the manifest that lists them with their hashes.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import jinja2
from pydantic import ValidationError

from hznctl.bundle.manifest import GroupEntry, HostBundle, Manifest, SupervisordRef, sha256_hex
from hznctl.compile.compiler import CompileError, SecretFiles
from hznctl.compile.programs import (
    HostCompiler,
    HostProgram,
    Program,
    ProgramBuilder,
    ProgramKey,
)
from hznctl.inventory import Inventory
from hznctl.models import Host
from hznctl.placement import groups_by_host
from hznctl.runtimes import CommandProblem
from hznctl.targets.supervisord.ini import UnsafeValue
from hznctl.targets.supervisord.options import Section, section
from hznctl.targets.supervisord.render import (
    GENERATOR,
    make_environment,
    render_program,
    template_place,
)
from hznctl.targets.supervisord.verify import Verifier, VerifyError


def build_bundles(inventory: Inventory, hosts: Sequence[str], revision: str | None,
                  templates: jinja2.Environment | None) -> dict[str, HostBundle]:
    """The bundles of ``hosts``, in their order, on this process."""
    return dict(build_each(inventory, hosts, revision, templates))


def build_each(inventory: Inventory, hosts: Sequence[str], revision: str | None,
               templates: jinja2.Environment | None) -> Iterator[tuple[str, HostBundle]]:
    """The bundles of ``hosts``, one after the other, in their order (each once).

    What is made once for every host with the same program (its file and exec spec, read
    back) is kept while a host still to be built runs that program (``ProgramKey``), and
    let go after the last: a caller that writes each bundle and lets it go holds the
    programs in use, not every bundle of the fleet."""
    hosts = list(dict.fromkeys(hosts))
    placed = groups_by_host(inventory)
    env = templates or make_environment(inventory.root)
    secrets = SecretFiles(inventory.root)
    verifier = Verifier()
    memo = _BESIDE.get()
    builder = ProgramBuilder(inventory, secrets.identity,
                             memo.builder if memo is not None else None)
    outputs: dict[ProgramKey, dict[Program, _Output]] = (
        memo.outputs if memo is not None and memo.same_templates else {})
    if memo is not None:  # kept whole for the build beside this one
        memo.builder = builder
    # The program keys each host needs (one object per key, however many hosts share it),
    # and how many of the hosts still to build need each key and each application.
    needs: dict[str, tuple[ProgramKey, ...]] = {}
    canonical: dict[ProgramKey, ProgramKey] = {}
    for name in hosts:
        found = HostCompiler(inventory.hosts[name], builder).program_keys(placed[name])
        needs[name] = tuple(canonical.setdefault(key, key) for key in found)
    del canonical
    left = Counter(key for keys in needs.values() for key in keys)
    left_apps = Counter(slug for keys in needs.values() for slug in {key[0] for key in keys})
    for name in hosts:
        compiler = HostCompiler(inventory.hosts[name], builder)
        try:
            programs = compiler.programs(placed[name])
        except (UnsafeValue, CommandProblem) as exc:
            raise CompileError(f"host {name}: {exc}") from None
        except ValidationError as exc:  # an exec spec the inventory's rules let through
            raise CompileError(f"host {name}: cannot build an exec spec: "
                               f"{exc.errors(include_url=False)[0]['msg']}") from None
        yield name, _host_bundle(inventory.hosts[name], programs, secrets, env, verifier,
                                 outputs, revision)
        del programs
        keys = needs.pop(name)
        if memo is not None:
            continue
        for key in keys:
            left[key] -= 1
            if not left[key]:
                builder.forget(key)
                outputs.pop(key, None)
        for slug in {key[0] for key in keys}:
            left_apps[slug] -= 1
            if not left_apps[slug]:
                builder.forget_application(slug)


@dataclass
class _Beside:
    """What building one inventory's bundles leaves for building another's beside it: the
    programs it built (taken by the other where they are made from the same objects) and,
    when both have the same templates, what each program rendered and read back."""

    same_templates: bool
    builder: ProgramBuilder | None = None
    outputs: dict[ProgramKey, dict[Program, _Output]] = field(default_factory=dict)


_BESIDE: contextvars.ContextVar[_Beside | None] = contextvars.ContextVar("beside",
                                                                         default=None)


@contextlib.contextmanager
def building_beside(same_templates: bool) -> Iterator[None]:
    """Bundles built in the block, of one inventory and then of another (`plan --base`:
    the changed hosts of both revisions), share what they can: a program made of the very
    same objects is built once, and rendered and read back once when ``same_templates``
    (the two inventories' templates are the same files). What a build makes is kept until
    the block ends, so the block is for a few hosts, not a fleet."""
    token = _BESIDE.set(_Beside(same_templates))
    try:
        yield
    finally:
        _BESIDE.reset(token)


@dataclass(frozen=True)
class _Output:
    """What a program puts in every bundle that has it, made and verified once per
    compile (kept while a host still to be built runs the program)."""

    file: str
    data: bytes
    sha256: str
    exec_sha256: str
    entry: GroupEntry


@dataclass(frozen=True)
class _Rendered:
    """A program's file as rendered, until it is read back."""

    section: Section
    text: str
    data: bytes


def _render(program: Program, env: jinja2.Environment, host: str) -> _Rendered:
    where = f"host {host}, program {program.group}"
    written = section(program)
    try:
        text = render_program(written, env)
    except UnsafeValue as exc:
        raise CompileError(f"{where}: {exc}") from None
    except jinja2.TemplateError as exc:
        place = template_place(exc) or f"template {program.runtime.template}"
        raise CompileError(f"{place}: {where}: {exc}") from None
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise CompileError(f"{where}: template {program.runtime.template} writes "
                           f"{text[exc.start]!a}: supervisord reads its configuration in the "
                           "locale's encoding, so program files hold only ASCII") from None
    return _Rendered(written, text, data)


def _verified(program: Program, rendered: _Rendered, verifier: Verifier, host: str
              ) -> _Output:
    try:
        verifier.verify(rendered.text, rendered.section)
    except (UnsafeValue, VerifyError) as exc:
        raise CompileError(f"host {host}, program {program.group}: {exc}") from None
    sha256 = sha256_hex(rendered.data)
    return _Output(rendered.section.file, rendered.data, sha256, sha256_hex(program.exec_json),
                   _group_entry(rendered.section, sha256))


def _host_bundle(host: Host, programs: list[HostProgram], secrets: SecretFiles,
                 env: jinja2.Environment, verifier: Verifier,
                 outputs: dict[ProgramKey, dict[Program, _Output]], revision: str | None
                 ) -> HostBundle:
    files: dict[str, bytes] = {}
    hashes: dict[str, str] = {}
    values: dict[str, str] = {}
    groups: dict[str, GroupEntry] = {}
    # Render what this compile has not yet, read their lines at once (much cheaper than
    # one file at a time), then verify each: the same program on another host is the
    # same file, verified already.
    keys = {p.program: p.program.key for p in programs}
    fresh = [(program, _render(program, env, host.name)) for program, key in keys.items()
             if program not in outputs.get(key, ())]
    verifier.read(rendered.text for _, rendered in fresh)
    for program, rendered in fresh:
        outputs.setdefault(keys[program], {})[program] = _verified(program, rendered,
                                                                   verifier, host.name)
    del fresh
    for placed in programs:
        program = placed.program
        output = outputs[keys[program]][program]
        files[output.file] = output.data
        hashes[output.file] = output.sha256
        files[program.exec_path] = program.exec_json
        hashes[program.exec_path] = output.exec_sha256
        for path, data in (*placed.files.items(), *program.support_files.items()):
            files[path] = data
            hashes[path] = sha256_hex(data)
        for bundle_path, sops_path in program.secret_sources.items():
            files[bundle_path] = secrets.read(sops_path)
            hashes[bundle_path] = secrets.hash(sops_path)
            values[bundle_path] = secrets.identity(sops_path)
        groups[program.group] = output.entry
    sv = host.supervisord
    manifest = Manifest(
        generator=GENERATOR, host=host.name, environment=host.environment, revision=revision,
        supervisord=SupervisordRef(url=sv.url, include_dir=sv.include_dir,
                                   state_dir=sv.state_dir, log_dir=sv.log_dir),
        groups=groups,
        files={p: hashes[p] for p in sorted(files)},
        secret_values=dict(sorted(values.items())),
    )
    return HostBundle(host.name, manifest, dict(sorted(files.items())))


def _group_entry(written: Section, sha256: str) -> GroupEntry:
    # Every value is already of its field's type (the manifest's read-back checks them).
    program = written.program
    return GroupEntry(
        application=program.application.slug,
        worker=program.worker.name if program.worker else None,
        runtime=program.runtime.runtime.value,
        file=written.file,
        sha256=sha256,
        processes=program.numprocs,
        process_names=written.process_names(),
        startsecs=program.startsecs,
        stopwaitsecs=program.stopwaitsecs,
        settings=written.settings(),
        files=program.files,
        parameters=program.parameters,
        recycle_exit_codes=(list(program.exec_spec.recycle.exit_codes)
                            if program.exec_spec.recycle else []),
    )
