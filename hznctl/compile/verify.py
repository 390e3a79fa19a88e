"""Reading a rendered program back with supervisor's own configuration code.

The file is parsed by ``supervisor.options.UnhosedConfigParser`` and its processes are
built by ``ServerOptions.processes_from_section``, as supervisord does on `reread`. Any
difference from what was intended (an extra section, a value read differently, another
process list) is a compile error: such a file is never written.

Two options depend on the machine that runs supervisord, not on the file: ``user`` (a
passwd lookup) and the log files (their folder must exist). They are compared as the
strings supervisor reads and then left out of the process build.
"""

from __future__ import annotations

import configparser
import shlex
import signal
from collections.abc import Hashable
from functools import lru_cache
from typing import Any

from supervisor import options as supervisor_options
from supervisor.options import ServerOptions, UnhosedConfigParser

from hznctl.compile.ini import expand, quoted_word
from hznctl.compile.programs import Program

_MACHINE_OPTIONS = ("user", "stdout_logfile", "stderr_logfile")
_STRUCTURED = ("command", "process_name", "environment")
_BUILT = 1


class VerifyError(Exception):
    """The rendered file does not read back as intended; the message says how."""


@lru_cache(maxsize=1)
def _server_options() -> Any:
    return ServerOptions()


def parse_program_text(text: str) -> Any:
    parser = UnhosedConfigParser()
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise VerifyError(f"supervisor cannot parse it: {exc}") from None
    return parser


class Verifier:
    """Reads back each distinct rendered program once per compile.

    A worker group placed on several hosts often renders to the same file on each: the
    same text meant as the same program reads back the same, so it is parsed only once.
    The key holds everything ``verify_program`` compares, never the text alone: a text
    shared by two different intended programs is verified against each of them.
    """

    def __init__(self) -> None:
        self._verified: set[tuple[str, Hashable]] = set()

    def verify(self, text: str, program: Program) -> None:
        key = (text, _intent(program))
        if key not in self._verified:
            verify_program(text, program)
            self._verified.add(key)


def _intent(program: Program) -> Hashable:
    return (program.group, program.numprocs, tuple(program.argv),
            tuple(program.options.items()))


def verify_program(text: str, program: Program) -> None:
    parser = parse_program_text(text)
    section = f"program:{program.group}"
    if parser.sections() != [section]:
        raise VerifyError(f"supervisor reads sections {parser.sections()}, expected [{section}]")
    missing = sorted(set(program.options) - set(parser.options(section)))
    if missing:
        raise VerifyError(f"options missing from the rendered file: {', '.join(missing)}")
    written = dict(parser.items(section))  # every value as supervisor read it, unexpanded
    _compare_strings(parser, section, written, program)
    for option in _MACHINE_OPTIONS:
        parser.remove_option(section, option)
    if program.numprocs > _BUILT:
        # Processes differ only by %(process_num): supervisor builds the first; the names
        # of all, and per-process paths of the first and last, are checked separately.
        parser.set(section, "numprocs", str(_BUILT))
    options = _server_options()
    options.parse_warnings = []
    try:
        configs = options.processes_from_section(parser, section, program.group)
    except ValueError as exc:
        raise VerifyError(f"supervisor rejects it: {exc}") from None
    _compare_processes(configs, written["process_name"], program)


def _compare_strings(parser: Any, section: str, written: dict[str, str],
                     program: Program) -> None:
    """Each option as supervisor's ``saneget`` reads it (its ``expand`` over the raw value)."""
    for option, intended in program.options.items():
        if option in _STRUCTURED:
            continue
        for num in _sample(program.numprocs) if option in _MACHINE_OPTIONS else [0]:
            expansions = {**parser.expansions, **program.expansions(num)}
            try:
                read = supervisor_options.expand(written[option], expansions,
                                                 f"{section}.{option}")
            except ValueError as exc:
                raise VerifyError(f"{option}: supervisor cannot expand it: {exc}") from None
            if read != expand(intended, expansions):
                raise VerifyError(f"{option}: supervisor reads another value than intended")


def _sample(numprocs: int) -> list[int]:
    """Process numbers to read per-process values for: the first and the last."""
    return sorted({0, max(numprocs - 1, 0)})


def _expected_environment(program: Program) -> dict[str, str]:
    name, _, value = str(program.options["environment"]).partition("=")
    return {name: value}


def _compare_processes(configs: list[Any], process_name: str, program: Program) -> None:
    expected_names = program.process_names()
    names = sorted(c.name for c in configs)
    if names != sorted(expected_names[:_BUILT]):
        raise VerifyError(f"supervisor makes processes {names}, expected {expected_names}")
    if [supervisor_expand(process_name, program, n) for n in range(program.numprocs)] \
            != expected_names:
        raise VerifyError("process_name: supervisor names the processes otherwise")
    first = next(c for c in configs if c.name == expected_names[0])
    _compare_command(first.command, program)
    for config in configs:
        if config.directory != program.options["directory"]:
            raise VerifyError("directory: supervisor reads another value than intended")
        if config.environment != _expected_environment(program):
            raise VerifyError("environment: supervisor reads other variables than intended")
        if config.stopsignal != signal.SIGTERM or not (config.stopasgroup and
                                                       config.killasgroup):
            raise VerifyError("stop settings: supervisor reads other values than intended")
        if config.stopwaitsecs != int(str(program.options["stopwaitsecs"])):
            raise VerifyError("stopwaitsecs: supervisor reads another value than intended")


def _compare_command(command: str, program: Program) -> None:
    """supervisor splits ``command`` with shlex.split at spawn time: into ``program.argv``?

    The line must be the arguments' quoted words joined by single spaces; shlex.split of
    such a line is the concatenation of each word's split (a word that splits into exactly
    one argument closes its quotes), so each distinct word is split once and remembered.
    """
    expansions = program.expansions(0)
    words = [quoted_word(a, expansions) for a in program.argv]
    if command != " ".join(words):
        raise VerifyError("command: supervisor reads another command line than intended")
    for word, arg in zip(words, program.argv, strict=True):
        if _split_word(word) != (expand(arg, expansions),):
            raise VerifyError("command: supervisor splits it into other arguments than "
                              "intended")


@lru_cache(maxsize=65536)
def _split_word(word: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(word))
    except ValueError:
        return ()


def supervisor_expand(process_name: str, program: Program, num: int) -> str:
    """A process's name as supervisor's ``expand`` makes it from the option it read."""
    return str(supervisor_options.expand(process_name, program.expansions(num),
                                         "process_name"))
