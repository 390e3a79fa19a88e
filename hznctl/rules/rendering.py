"""Values that reach a supervisord program file: each must read back exactly as written.

These run the renderer's own gate (``hznctl.targets.supervisord.ini``) on every inventory field that
`compile` puts on an INI line, so `validate` rejects what `compile` could not write, at
the field's file:line:col.
"""

from __future__ import annotations

from collections.abc import Iterator

from hznctl.compile.spec import is_reserved
from hznctl.diagnostics import Diagnostic
from hznctl.inventory import Inventory
from hznctl.models import Application
from hznctl.placement import worker_hosts
from hznctl.rules import application_rule, rule
from hznctl.runtimes import PLACEHOLDERS, CommandProblem, fill_placeholders, split_command
from hznctl.targets.supervisord.ini import argument_problem, value_problem

CODE = "ini-value"
_SAMPLE = {name: "x" for name in PLACEHOLDERS}


def _command_problem(template: str) -> str | None:
    try:
        words = split_command(template)
        for word in words:
            problem = argument_problem(fill_placeholders(word, _SAMPLE))
            if problem is not None:
                return f"an argument {problem}"
    except CommandProblem as exc:
        return str(exc)
    return None


def _application_values(app: Application) -> Iterator[tuple[tuple[str | int, ...],
                                                             str | None]]:
    yield ("directory",), value_problem(app.directory)
    yield ("user",), value_problem(app.user)
    if app.executable is not None:
        yield ("executable",), argument_problem(app.executable)
    if app.app_module is not None:
        yield ("app_module",), argument_problem(app.app_module)
    if app.command is not None:
        yield ("command",), _command_problem(app.command)
    for index, worker in enumerate(app.workers):
        if worker.command is not None:
            yield ("workers", index, "command"), _command_problem(worker.command)


# Longest path hznctl puts under the state folder: current/secrets/<255-character path>.
_STATE_SUFFIX = len("/current/secrets/") + 255
MAX_PATH = 1023


def _state_dir_problem(state_dir: str) -> str | None:
    if len(state_dir) + _STATE_SUFFIX > MAX_PATH:
        return (f"is too long: paths of installed bundles under it must fit in {MAX_PATH} "
                f"characters (at most {MAX_PATH - _STATE_SUFFIX} for the folder)")
    return argument_problem(f"{state_dir}/current/exec/x.json")


@application_rule("ini-values")
def application_ini_values(inventory: Inventory, slug: str, app: Application
                           ) -> Iterator[Diagnostic]:
    """Every value of an application that reaches a program file can be written there and
    read back."""
    for parts, problem in _application_values(app):
        if problem is not None:
            yield inventory.diagnostic("application", slug, parts, problem, code=CODE)


@rule("ini-values")
def host_ini_values(inventory: Inventory) -> Iterator[Diagnostic]:
    """Every value of a host that reaches a program file can be written there and read
    back."""
    for name in sorted(inventory.hosts):
        sv = inventory.hosts[name].supervisord
        checks = {
            "hznctl_bin": argument_problem(sv.hznctl_bin),
            "state_dir": _state_dir_problem(sv.state_dir),
            "log_dir": value_problem(f"{sv.log_dir}/x_00.out.log"),
        }
        for field, problem in checks.items():
            if problem is not None:
                yield inventory.diagnostic("host", name, ("supervisord", field), problem,
                                           code=CODE)


@application_rule("reserved-env")
def reserved_env(inventory: Inventory, slug: str, app: Application) -> Iterator[Diagnostic]:
    """hznctl sets REDIS_*, HZNCTL_* and the runtimes' URL variables itself."""
    sources: list[tuple[tuple[str | int, ...], dict[str, str]]] = [(("env",), app.env)]
    sources += [(("workers", i, "env"), w.env) for i, w in enumerate(app.workers)]
    for parts, env in sources:
        for key in sorted(env):
            if is_reserved(key):
                yield inventory.diagnostic(
                    "application", slug, (*parts, key),
                    f"{key} is set by hznctl from the worker group's connection",
                    key=True, code="reserved-env",
                    hint="remove it; hznctl exec sets REDIS_*, HZNCTL_*, RQ_REDIS_URL "
                    "and CELERY_BROKER_URL")


@rule("program-names")
def program_names(inventory: Inventory) -> Iterator[Diagnostic]:
    """Two programs on one host never share a name (supervisord would merge them)."""
    programs = inventory.derived(_PROGRAMS, _programs)
    # Only a name that two applications give a program can be shared on a host: most
    # fleets have none, and then no placement need be looked at.
    owners: dict[str, str] = {}
    shared: set[str] = set()
    for slug, (_, named) in programs.items():
        for _, program in named.values():
            if owners.setdefault(program, slug) != slug:
                shared.add(program)
    if not shared:
        return
    by_app = worker_hosts(inventory)
    # Applications in order, so a program's owner on a host is the first application to
    # run it there, as in the placements' (host, application) order; what is reported
    # does not depend on the order (diagnostics are sorted), and the placements need not
    # be sorted for it.
    seen: dict[tuple[str, str], str] = {}
    for slug in sorted(inventory.applications):
        app = inventory.applications[slug]
        named = programs[slug][1]
        for worker, hosts in zip(app.workers, by_app[slug], strict=True):
            index, program = named[worker.name]
            if program not in shared:
                continue
            for host in hosts:
                owner = seen.setdefault((host, program), slug)
                if owner != slug:
                    yield inventory.diagnostic(
                        "application", slug, ("workers", index, "name"),
                        f"program {program!r} on host {host} is also a program of "
                        f"application {owner!r}", code="program-names",
                        hint="rename the worker group")


_PROGRAMS = "rules.programs"
_Named = dict[str, tuple[int, str]]


def _programs(inventory: Inventory) -> dict[str, tuple[Application, _Named]]:
    """Application -> (the application, worker group name -> the group's position and its
    program's name); of an application the inventory loaded beside this one has as the
    same object, what it found (a program's name is a function of the application)."""
    earlier = inventory.earlier
    before: dict[str, tuple[Application, _Named]] = (
        earlier.previous.computed(_PROGRAMS) or {}) if earlier is not None else {}
    found: dict[str, tuple[Application, _Named]] = {}
    for slug, app in inventory.applications.items():
        kept = before.get(slug)
        found[slug] = kept if kept is not None and kept[0] is app else (app, _named(app))
    return found


def _named(app: Application) -> _Named:
    """Once per group, not once per host it runs on; a repeated group name (reported by
    worker-names) stands for its first group."""
    from hznctl.compile.programs import group_name
    from hznctl.runtimes import runtime_spec

    per_app = runtime_spec(app.runtime).per_application
    named: _Named = {}
    for index, worker in enumerate(app.workers):
        if worker.name not in named:
            pooled = per_app and worker.kind == "worker"
            named[worker.name] = (index, group_name(app, None if pooled else worker))
    return named
