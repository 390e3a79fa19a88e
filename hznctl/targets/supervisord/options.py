"""supervisord's program options: the one table of what hznctl writes and how it is read.

Each row is one option of a ``[program:<group>]`` section, in the order the program files
list them: the value hznctl writes (from the compiler's typed program), and, when
supervisord reports the option in ``getAllConfigInfo``, the key it reports it under and
supervisor's own conversion from the written text to that report. The program files
(through the templates' ``program`` mapping), the manifest's ``settings``, the read-back
and deploy's comparison with the running supervisord all read this table.

Adding an option is adding a row (and a test that supervisord reads it as meant).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hznctl.argv import PROCESS_NUM, PROGRAM_NAME, Arg, display, expand
from hznctl.bundle.manifest import sha256_hex
from hznctl.system import DEVICES
from hznctl.targets.supervisord import datatypes, layout
from hznctl.targets.supervisord.ini import REMEMBERED, display_command

if TYPE_CHECKING:  # deploy reads the table without loading the compiler
    from hznctl.compile.programs import Program

LOG_MAXBYTES = "50MB"
LOG_BACKUPS = "10"


@dataclass(frozen=True)
class Option:
    """One supervisord program option."""

    name: str
    # What hznctl writes for a program; None: never written (supervisord's own default),
    # yet compared with what supervisord reports, as another file may set it. A value of
    # None for a program: not written for it.
    value: Callable[[Program], Arg | None] | None
    # The key supervisord reports it under in getAllConfigInfo (None: not reported; then
    # only its re-read diff shows a change), and supervisor's conversion to that value.
    live: str | None = None
    convert: Callable[[str], Any] = str


def _fixed(value: str) -> Callable[[Program], Arg]:
    return lambda program: value


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _chosen(name: str, default: object) -> Callable[[Program], Arg]:
    """An option operators set (the group's, then the host's), else hznctl's default."""

    def value(p: Program) -> Arg:
        given = getattr(p.options, name)
        given = default if given is None else given
        return _bool(given) if isinstance(given, bool) else str(given)

    return value


def _log(stream: str) -> Callable[[Program], Arg]:
    def value(p: Program) -> Arg:
        if stream == "err" and p.options.redirect_stderr:
            return "NONE"  # the stream goes to stdout's log: never a file of its own
        target = p.options.stdout_logfile if stream == "out" else p.options.stderr_logfile
        if target is not None:
            return target
        return (f"{p.supervisord.log_dir}/{p.group}_", PROCESS_NUM, f".{stream}.log")

    return value


def _rotation(stream: str, name: str, default: str) -> Callable[[Program], Arg]:
    def value(p: Program) -> Arg:
        if _log(stream)(p) in DEVICES:
            return "0"  # supervisord cannot rotate a device ('Illegal seek')
        given = getattr(p.options, name)
        return default if given is None else str(given)

    return value


def first_process(p: Program) -> int:
    """The number of the program's first process (supervisor/options.py,
    ``processes_from_section``: ``range(numprocs_start, numprocs + numprocs_start)``)."""
    return p.options.numprocs_start or 0


def _umask(p: Program) -> Arg | None:
    return p.options.umask  # unset: not written, supervisord's own


def _signal(value: str) -> int:
    return int(datatypes.signal_number(value))


def _octal(value: str) -> int:
    return int(datatypes.octal_type(value))


OPTIONS: tuple[Option, ...] = (
    Option("command", _fixed(""), "command"),  # written from the program's argv
    Option("process_name", lambda p: (PROGRAM_NAME, "_", PROCESS_NUM)),
    Option("numprocs", lambda p: str(p.numprocs)),
    Option("numprocs_start", lambda p: str(first_process(p)) if first_process(p) else None),
    Option("directory", lambda p: p.application.directory, "directory"),
    Option("user", lambda p: p.application.user, "uid", datatypes.name_to_uid),
    Option("environment", lambda p: f"HZNCTL_SPEC_SHA256={sha256_hex(p.exec_json)}"),
    Option("priority", _chosen("priority", 999), "process_prio", int),
    Option("autostart", _chosen("autostart", True), "autostart", datatypes.boolean),
    Option("autorestart", _fixed("true")),
    Option("startsecs", lambda p: str(p.startsecs), "startsecs", int),
    Option("startretries", _chosen("startretries", 3), "startretries", int),
    Option("stopsignal", lambda p: p.runtime.stop.signal, "stopsignal", _signal),
    Option("stopwaitsecs", lambda p: str(p.stopwaitsecs), "stopwaitsecs", int),
    Option("stopasgroup", lambda p: _bool(p.runtime.stop.stopasgroup)),
    Option("killasgroup", lambda p: _bool(p.runtime.stop.killasgroup), "killasgroup",
           datatypes.boolean),
    Option("stdout_logfile", _log("out"), "stdout_logfile"),
    Option("stdout_logfile_maxbytes", _rotation("out", "logfile_maxbytes", LOG_MAXBYTES),
           "stdout_logfile_maxbytes", datatypes.byte_size),
    Option("stdout_logfile_backups", _rotation("out", "logfile_backups", LOG_BACKUPS),
           "stdout_logfile_backups", int),
    Option("stderr_logfile", _log("err"), "stderr_logfile"),
    Option("stderr_logfile_maxbytes", _rotation("err", "logfile_maxbytes", LOG_MAXBYTES),
           "stderr_logfile_maxbytes", datatypes.byte_size),
    Option("stderr_logfile_backups", _rotation("err", "logfile_backups", LOG_BACKUPS),
           "stderr_logfile_backups", int),
    Option("redirect_stderr", _chosen("redirect_stderr", False), "redirect_stderr",
           datatypes.boolean),
    Option("umask", _umask, "umask", _octal),
    Option("exitcodes", None, "exitcodes", datatypes.list_of_exitcodes),
)
WRITTEN = tuple(o for o in OPTIONS if o.value is not None)
# Option -> (key in getAllConfigInfo, supervisor's conversion), for the live comparison.
LIVE: dict[str, tuple[str, Callable[[str], Any]]] = {
    o.name: (o.live, o.convert) for o in OPTIONS if o.live is not None
}


@dataclass(eq=False)
class Section:
    """A program as supervisord's ``[program:<group>]`` section: the compiler's program and
    the value of every written option."""

    program: Program
    options: dict[str, Arg]

    @property
    def group(self) -> str:
        return self.program.group

    @property
    def numprocs(self) -> int:
        return self.program.numprocs

    @property
    def argv(self) -> list[Arg]:
        return self.program.argv

    @property
    def file(self) -> str:
        return layout.program_file(self.program.group)

    @functools.cached_property
    def _numbers(self) -> range:
        first = first_process(self.program)
        return range(first, first + self.numprocs)

    def process_numbers(self) -> range:
        return self._numbers

    def expansions(self, process_num: int) -> dict[str, object]:
        return {"program_name": self.group, "group_name": self.group,
                "process_num": process_num, "numprocs": self.numprocs}

    @functools.cached_property
    def _names(self) -> tuple[str, ...]:
        name = self.options["process_name"]
        return tuple(expand(name, self.expansions(n)) for n in self._numbers)

    def process_names(self) -> list[str]:
        return list(self._names)

    def settings(self) -> dict[str, str]:
        """Every option as supervisor's syntax shows it (the manifest's ``settings``)."""
        return {k: " ".join(map(_shown_argument, self.argv)) if k == "command"
                else display(v) for k, v in self.options.items()}


def section(program: Program) -> Section:
    options = {}
    for option in WRITTEN:
        assert option.value is not None
        value = option.value(program)
        if value is not None:
            options[option.name] = value
    return Section(program, options)


@functools.lru_cache(maxsize=REMEMBERED)
def _shown_argument(arg: Arg) -> str:
    # display_command joins its arguments' words with spaces; most recur in every program.
    return display_command([arg])
