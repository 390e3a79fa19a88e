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

from supervisor import datatypes

from hznctl.argv import PROCESS_NUM, PROGRAM_NAME, Arg, display, expand
from hznctl.compile.spec import spec_hash
from hznctl.targets.supervisord import layout
from hznctl.targets.supervisord.ini import display_command

if TYPE_CHECKING:  # deploy reads the table without loading the compiler
    from hznctl.compile.programs import Program

LOG_MAXBYTES = "50MB"
LOG_BACKUPS = "10"


@dataclass(frozen=True)
class Option:
    """One supervisord program option."""

    name: str
    # What hznctl writes for a program; None: never written (supervisord's own default),
    # yet compared with what supervisord reports, as another file may set it.
    value: Callable[[Program], Arg] | None
    # The key supervisord reports it under in getAllConfigInfo (None: not reported; then
    # only its re-read diff shows a change), and supervisor's conversion to that value.
    live: str | None = None
    convert: Callable[[str], Any] = str


def _fixed(value: str) -> Callable[[Program], Arg]:
    return lambda program: value


def _log(stream: str) -> Callable[[Program], Arg]:
    return lambda p: (f"{p.supervisord.log_dir}/{p.group}_", PROCESS_NUM, f".{stream}.log")


def _signal(value: str) -> int:
    return int(datatypes.signal_number(value))


OPTIONS: tuple[Option, ...] = (
    Option("command", _fixed(""), "command"),  # written from the program's argv
    Option("process_name", lambda p: (PROGRAM_NAME, "_", PROCESS_NUM)),
    Option("numprocs", lambda p: str(p.numprocs)),
    Option("directory", lambda p: p.application.directory, "directory"),
    Option("user", lambda p: p.application.user, "uid", datatypes.name_to_uid),
    Option("environment", lambda p: f"HZNCTL_SPEC_SHA256={spec_hash(p.exec_json)}"),
    Option("priority", _fixed("999"), "process_prio", int),
    Option("autostart", _fixed("true"), "autostart", datatypes.boolean),
    Option("autorestart", _fixed("true")),
    Option("startsecs", lambda p: str(p.startsecs), "startsecs", int),
    Option("startretries", _fixed("3"), "startretries", int),
    Option("stopsignal", _fixed("TERM"), "stopsignal", _signal),
    Option("stopwaitsecs", lambda p: str(p.stopwaitsecs), "stopwaitsecs", int),
    Option("stopasgroup", _fixed("true")),
    Option("killasgroup", _fixed("true"), "killasgroup", datatypes.boolean),
    Option("stdout_logfile", _log("out"), "stdout_logfile"),
    Option("stdout_logfile_maxbytes", _fixed(LOG_MAXBYTES), "stdout_logfile_maxbytes",
           datatypes.byte_size),
    Option("stdout_logfile_backups", _fixed(LOG_BACKUPS), "stdout_logfile_backups", int),
    Option("stderr_logfile", _log("err"), "stderr_logfile"),
    Option("stderr_logfile_maxbytes", _fixed(LOG_MAXBYTES), "stderr_logfile_maxbytes",
           datatypes.byte_size),
    Option("stderr_logfile_backups", _fixed(LOG_BACKUPS), "stderr_logfile_backups", int),
    Option("redirect_stderr", None, "redirect_stderr", datatypes.boolean),
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

    def expansions(self, process_num: int) -> dict[str, object]:
        return {"program_name": self.group, "group_name": self.group,
                "process_num": process_num, "numprocs": self.numprocs}

    def process_names(self) -> list[str]:
        return [expand(self.options["process_name"], self.expansions(n))
                for n in range(self.numprocs)]

    def settings(self) -> dict[str, str]:
        """Every option as supervisor's syntax shows it (the manifest's ``settings``)."""
        return {k: " ".join(map(_shown_argument, self.argv)) if k == "command"
                else display(v) for k, v in self.options.items()}


def section(program: Program) -> Section:
    return Section(program, {o.name: o.value(program) for o in WRITTEN
                             if o.value is not None})


@functools.lru_cache(maxsize=65536)
def _shown_argument(arg: Arg) -> str:
    # display_command joins its arguments' words with spaces; most recur in every program.
    return display_command([arg])
