"""Building supervisord bundles: each host's programs rendered, read back, and listed.

Each distinct program of a compile is rendered and read back once, however many hosts
run it; a host's bundle is its programs' files, their exec specs, secret and Horizon files,
and the manifest that lists them with their hashes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jinja2
from pydantic import ValidationError

from hznctl.bundle.manifest import GroupEntry, HostBundle, Manifest, SupervisordRef, sha256_hex
from hznctl.compile.compiler import CompileError, SecretFiles
from hznctl.compile.programs import HostCompiler, HostProgram, Program, ProgramBuilder
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
    placed = groups_by_host(inventory)
    env = templates or make_environment(inventory.root)
    secrets = SecretFiles(inventory.root)
    verifier = Verifier()
    builder = ProgramBuilder(inventory, secrets.identity)
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

    section: Section
    text: str
    data: bytes
    sha256: str
    exec_sha256: str
    entry: GroupEntry


def _output(program: Program, env: jinja2.Environment, host: str) -> _Output:
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
    sha256 = sha256_hex(data)
    return _Output(written, text, data, sha256, sha256_hex(program.exec_json),
                   _group_entry(written, sha256))


def _verify(text: str, program: Section, verifier: Verifier, host: str) -> None:
    try:
        verifier.verify(text, program)
    except (UnsafeValue, VerifyError) as exc:
        raise CompileError(f"host {host}, program {program.group}: {exc}") from None


def _host_bundle(host: Host, programs: list[HostProgram], secrets: SecretFiles,
                 env: jinja2.Environment, verifier: Verifier,
                 outputs: dict[Program, _Output], revision: str | None) -> HostBundle:
    files: dict[str, bytes] = {}
    hashes: dict[str, str] = {}
    values: dict[str, str] = {}
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
        _verify(output.text, output.section, verifier, host.name)
        files[output.section.file] = output.data
        hashes[output.section.file] = output.sha256
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
