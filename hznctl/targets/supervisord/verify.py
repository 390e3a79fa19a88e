"""Reading a rendered program back with supervisor's own configuration code.

Any difference from what was intended (an extra section, a value read differently, another
process list) is a compile error: such a file is never written. Every file is checked in
two layers, both with supervisor's code:

**Text.** supervisor's parser (``supervisor.options.UnhosedConfigParser``) reads every
distinct line of every file. A file whose lines cannot continue one another (no carriage
return, no indented line) reads as its lines read one by one: ``[x]`` opens or reopens a
section, ``key=value`` sets an option in the open section (a later one wins), comments and
blank lines add nothing. So the file's sections and values are built from the lines'
readings, and must be exactly one ``[program:<group>]`` holding every intended option.
Every value is then expanded by supervisor's ``expand`` as supervisord does (for the first
and the last process where it differs per process) and compared with the intended value.

**Processes.** supervisor's ``ServerOptions.processes_from_section`` builds the processes
of the section, as supervisord does on `reread`. It runs on the first program of each
*skeleton*: the section with its free-text values left out. Those values are command,
directory, environment, numprocs and stopwaitsecs, and for each supervisor's own code
gives the same result on every program as on that first one, which is checked per program
without building it:

- command and directory: the process config holds the expanded value the text layer
  compared; the command's arguments are split with ``shlex`` as supervisor does at spawn.
- numprocs and stopwaitsecs: supervisor's ``integer`` reads the intended number; the
  skeleton keeps whether numprocs is more than one (process_name must then hold
  ``%(process_num)``), and each process name is expanded by supervisor's ``expand``.
- environment: one ``NAME=value`` pair of letters, digits and underscores, which
  supervisor's ``dict_of_key_value_pairs`` reads as ``{NAME: value}`` (a property test holds
  it to that); any other environment value stays in the skeleton.

Two options depend on the machine that runs supervisord, not on the file: ``user`` (a
passwd lookup) and the log files (their folder must exist). They are compared as the
strings supervisor reads and then left out of the process build.
"""

from __future__ import annotations

import configparser
import itertools
import re
import secrets
import shlex
import signal
from collections.abc import Hashable, Iterable
from functools import lru_cache
from typing import Any

from supervisor import datatypes as supervisor_datatypes
from supervisor import options as supervisor_options
from supervisor.options import ServerOptions, UnhosedConfigParser

from hznctl.argv import expand
from hznctl.targets.supervisord.ini import REMEMBERED, quoted_word
from hznctl.targets.supervisord.options import Section

_MACHINE_OPTIONS = ("user", "stdout_logfile", "stderr_logfile")
_STRUCTURED = ("command", "process_name", "environment")
_BUILT = 1
# Checked per program (see the module's doc), so left out of the skeleton.
_FREE_TEXT = ("command", "directory", "environment", "numprocs", "stopwaitsecs",
              *_MACHINE_OPTIONS)
# Lines that could continue the line above: supervisor would read them with it.
_INDENTED = re.compile(r"^[^\S\n]+\S", re.MULTILINE)
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
_OPTION_KEY = re.compile(r"[^=:]*")
_SIMPLE_ENVIRONMENT = re.compile(r"([A-Za-z0-9_]+)=([A-Za-z0-9_]+)")

# What supervisor reads on one line: nothing, a section header, or an option.
_Reading = tuple[str, ...]
_NOTHING: _Reading = ()


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
    """Reads back rendered programs, sharing what one compile learns between them.

    A compile verifies each distinct program once, however many hosts run it
    (``build``). Each distinct line is read by supervisor's parser once (``read``), and a
    file whose shape (its options but the free text) was seen before is checked as the
    fold of its lines; the first of each shape goes through supervisor's own parser whole.
    """

    def __init__(self) -> None:
        self._lines = _LineReader()
        self._skeletons: set[Hashable] = set()

    def read(self, texts: Iterable[str]) -> None:
        """Read the lines of many rendered files at once: ``verify`` then finds them read."""
        self._lines.read(texts)

    def verify(self, text: str, program: Section) -> None:
        written = self._lines.section(text, f"program:{program.group}")
        missing = sorted(set(program.options) - set(written))
        if missing:
            raise VerifyError(f"options missing from the rendered file: {', '.join(missing)}")
        _compare_strings(written, program)
        skeleton = _skeleton(written)
        if skeleton in self._skeletons:
            _compare_free_text(written, program)
        else:
            # The whole file through supervisor, its processes too; it reads as its lines.
            if verify_program(text, program) != written:
                raise VerifyError("supervisor reads the file otherwise than its lines")
            self._skeletons.add(skeleton)


def _skeleton(written: dict[str, str]) -> Hashable:
    values = {k: v for k, v in written.items() if k not in _FREE_TEXT}
    values["numprocs"] = "many" if written["numprocs"] != "1" else "1"
    environment = written.get("environment", "")
    values["environment"] = (environment if not _SIMPLE_ENVIRONMENT.fullmatch(environment)
                             else "NAME=value")
    return tuple(sorted(values.items()))


# Distinct lines whose reading is remembered, at most (about 3 MB of them, with the
# parser's own copies): the common ones are read again after a reset, with a host's lines.
_MAX_READINGS = 10_000


class _LineReader:
    """supervisor's reading of each distinct line, and of a file as the fold of its lines."""

    def __init__(self) -> None:
        self._readings: dict[str, _Reading] = {"": _NOTHING}
        self._parser = UnhosedConfigParser()
        # Sections that hold one line each while it is read; no template writes these.
        self._probe = f"hznctl line probe {secrets.token_hex(8)} "

    def section(self, text: str, section: str) -> dict[str, str]:
        """The options of ``section`` as supervisor reads ``text``, the only section in it."""
        if not text.isascii():
            raise VerifyError("it holds characters outside ASCII; supervisord reads its "
                              "configuration in the locale's encoding")
        if "\r" in text or _INDENTED.search(text):
            # supervisor would read such a line with the one above it: read the whole file.
            return _whole_file_section(text, section)
        lines = text.split("\n")
        readings = self._readings
        try:
            read = list(map(readings.__getitem__, lines))
        except KeyError:
            new = [line for line in dict.fromkeys(lines) if line not in readings]
            if not self._read(new):
                return _whole_file_section(text, section)
            read = list(map(readings.__getitem__, lines))
        sections: dict[str, dict[str, str]] = {}
        current: dict[str, str] | None = None
        for reading in read:
            if not reading:
                continue
            if len(reading) == 1:
                current = sections.setdefault(reading[0], {})
            elif current is None:
                return _whole_file_section(text, section)  # an option before any section
            else:
                current[reading[0]] = reading[1]
        if list(sections) != [section]:
            raise VerifyError(f"supervisor reads sections {list(sections)}, "
                              f"expected [{section}]")
        return sections[section]

    def read(self, texts: Iterable[str]) -> None:
        """Read the lines of many files at once (a head start for ``section``)."""
        if len(self._readings) > _MAX_READINGS:
            # Most lines name one program: a fleet's would pile up. Start afresh; the
            # lines still needed are read again, the whole host's at once, just below.
            self._readings = {"": _NOTHING}
        readings = self._readings
        files = [text.split("\n") for text in texts if text.isascii() and "\r" not in text]
        new = [line for line in dict.fromkeys(itertools.chain.from_iterable(files))
               if line not in readings]
        if new and not self._read(new):
            for lines in files:  # one file at a time, to leave out the odd one
                self._read([line for line in dict.fromkeys(lines) if line not in readings])

    def _read(self, lines: list[str]) -> bool:
        """Read ``lines`` with supervisor's parser, in one document of probe sections.

        - Lines that may be comments or blank share the first section: it must stay empty.
        - Lines that may be options share sections, never two with the same key before
          its ``=`` or ``:`` in one section. A section must then hold as many options as
          it has lines: as a line sets at most one option, each set its own, and the
          section lists them in the order of its lines.
        - Lines that may open a section come last, one after the other: there must be
          as many new sections after them, all empty. As a line opens at most one, each
          opened its own, in the order of the lines.

        False when the document does not read that way (a parse error, a ``[DEFAULT]``
        header, a line that reads otherwise than its shape suggests): the caller then
        reads the whole file instead.
        """
        quiet: list[str] = []
        heads: list[str] = []
        groups: list[dict[str, str]] = []
        seen: dict[str, int] = {}  # lines per key so far
        for line in lines:
            if not line or line[0] in ";#":
                quiet.append(line)
            elif line[0] == "[":
                heads.append(line)
            else:
                key = _OPTION_KEY.match(line)
                name = key.group().lower() if key else line
                index = seen[name] = seen.get(name, -1) + 1
                if index == len(groups):
                    groups.append({})
                groups[index][name] = line
        probe = self._probe
        document = [f"[{probe}q]\n", *(f"{line}\n" for line in quiet)]
        for index, group in enumerate(groups):
            document.append(f"[{probe}o{index}]\n")
            document.extend(f"{line}\n" for line in group.values())
        document.extend(f"{head}\n" for head in heads)
        parser = self._parser
        try:
            parser.read_string("".join(document))
            found = self._readings_of(parser, quiet, groups, heads)
        except configparser.Error:
            found = None
        finally:
            if parser.defaults():
                self._parser = UnhosedConfigParser()
            else:
                for name in parser.sections():
                    proxy = parser[name]
                    parser.remove_section(name)
                    # Its getters (partials of its own methods) hold it: with the cycle
                    # broken it goes now, not at the collector's next run (paused while
                    # compiling).
                    vars(proxy).clear()
        if found is None:
            return False
        self._readings.update(found)
        return True

    def _readings_of(self, parser: Any, quiet: list[str], groups: list[dict[str, str]],
                     heads: list[str]) -> dict[str, _Reading] | None:
        probe = self._probe
        expected = [f"{probe}q", *(f"{probe}o{i}" for i in range(len(groups)))]
        sections = parser.sections()
        if parser.defaults() or sections[:len(expected)] != expected \
                or len(sections) != len(expected) + len(heads):
            return None
        if parser.items(expected[0], raw=True):
            return None
        found: dict[str, _Reading] = dict.fromkeys(quiet, _NOTHING)
        for name, group in zip(expected[1:], groups, strict=True):
            options = parser.items(name, raw=True)
            if len(options) != len(group):
                return None
            found.update(zip(group.values(), options, strict=True))
        for head, opened in zip(heads, sections[len(expected):], strict=True):
            if opened.startswith(probe) or parser.items(opened, raw=True):
                return None
            found[head] = (opened,)
        return found


def _whole_file_section(text: str, section: str) -> dict[str, str]:
    parser = parse_program_text(text)
    _no_defaults(parser)
    if parser.sections() != [section]:
        raise VerifyError(f"supervisor reads sections {parser.sections()}, expected [{section}]")
    return dict(parser.items(section))


def _no_defaults(parser: Any) -> None:
    if parser.defaults():
        # supervisord reads every include into one parser: all its sections would get them.
        raise VerifyError("it sets values in a [DEFAULT] section, which every program "
                          "supervisord reads would inherit")


def verify_program(text: str, program: Section) -> dict[str, str]:
    """The whole file through supervisor: its parser, then its process build.

    Returns the options as supervisor read them.
    """
    parser = parse_program_text(text)
    _no_defaults(parser)
    section = f"program:{program.group}"
    if parser.sections() != [section]:
        raise VerifyError(f"supervisor reads sections {parser.sections()}, expected [{section}]")
    missing = sorted(set(program.options) - set(parser.options(section)))
    if missing:
        raise VerifyError(f"options missing from the rendered file: {', '.join(missing)}")
    written = dict(parser.items(section))  # every value as supervisor read it, unexpanded
    _compare_strings(written, program)
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
    return written


def _compare_strings(written: dict[str, str], program: Section) -> None:
    """Each option as supervisor's ``saneget`` reads it (its ``expand`` over the raw value)."""
    for option, intended in program.options.items():
        if option in _STRUCTURED:
            continue
        value = written[option]
        if "%" not in value and isinstance(intended, str):
            # `value % expansions` of a text without `%` is the text: nothing to expand.
            if value != intended:
                raise VerifyError(f"{option}: supervisor reads another value than intended")
            continue
        numbers = program.process_numbers()
        for num in _sample(numbers) if option in _MACHINE_OPTIONS else numbers[:1]:
            expansions = program.expansions(num)
            try:
                read = supervisor_options.expand(value, expansions,
                                                 f"program:{program.group}.{option}")
            except ValueError as exc:
                raise VerifyError(f"{option}: supervisor cannot expand it: {exc}") from None
            if read != expand(intended, expansions):
                raise VerifyError(f"{option}: supervisor reads another value than intended")


def _compare_free_text(written: dict[str, str], program: Section) -> None:
    """The per-program checks of a program whose skeleton supervisor already built."""
    try:
        supervisor_datatypes.process_or_group_name(program.group)
        numprocs = supervisor_datatypes.integer(written["numprocs"])
        stopwaitsecs = supervisor_datatypes.integer(written["stopwaitsecs"])
    except ValueError as exc:
        raise VerifyError(f"supervisor rejects it: {exc}") from None
    if numprocs != program.numprocs:
        raise VerifyError("numprocs: supervisor reads another value than intended")
    if stopwaitsecs != int(str(program.options["stopwaitsecs"])):
        raise VerifyError("stopwaitsecs: supervisor reads another value than intended")
    environment = _SIMPLE_ENVIRONMENT.fullmatch(written["environment"])
    if environment is None or \
            {environment[1]: environment[2]} != _expected_environment(program):
        raise VerifyError("environment: supervisor reads other variables than intended")
    _compare_names(written["process_name"], program)
    try:
        first = program.process_numbers()[0]
        command = supervisor_options.expand(written["command"], program.expansions(first),
                                            f"program:{program.group}.command")
    except ValueError as exc:
        raise VerifyError(f"command: supervisor cannot expand it: {exc}") from None
    _compare_command(command, program)


def _sample(numbers: range) -> list[int]:
    """Process numbers to read per-process values for: the first and the last."""
    return sorted({numbers[0], numbers[-1]})


def _expected_environment(program: Section) -> dict[str, str]:
    name, _, value = str(program.options["environment"]).partition("=")
    return {name: value}


def _compare_names(process_name: str, program: Section) -> None:
    if [supervisor_expand(process_name, program, n) for n in program.process_numbers()] \
            != program.process_names():
        raise VerifyError("process_name: supervisor names the processes otherwise")


def _compare_processes(configs: list[Any], process_name: str, program: Section) -> None:
    expected_names = program.process_names()
    names = sorted(c.name for c in configs)
    if names != sorted(expected_names[:_BUILT]):
        raise VerifyError(f"supervisor makes processes {names}, expected {expected_names}")
    _compare_names(process_name, program)
    first = next(c for c in configs if c.name == expected_names[0])
    _compare_command(first.command, program)
    for config in configs:
        if config.directory != program.options["directory"]:
            raise VerifyError("directory: supervisor reads another value than intended")
        if config.environment != _expected_environment(program):
            raise VerifyError("environment: supervisor reads other variables than intended")
        stop = program.program.runtime.stop
        if (config.stopsignal != getattr(signal, f"SIG{stop.signal}")
                or bool(config.stopasgroup) != stop.stopasgroup
                or bool(config.killasgroup) != stop.killasgroup):
            raise VerifyError("stop settings: supervisor reads other values than intended")
        if config.stopwaitsecs != int(str(program.options["stopwaitsecs"])):
            raise VerifyError("stopwaitsecs: supervisor reads another value than intended")


def _compare_command(command: str, program: Section) -> None:
    """supervisor splits ``command`` with shlex.split at spawn time: into ``program.argv``?

    The line must be the arguments' quoted words joined by single spaces; shlex.split of
    such a line is the concatenation of each word's split (a word that splits into exactly
    one argument closes its quotes), so each distinct word is split once and remembered.
    """
    expansions = program.expansions(0)
    words = []
    for arg in program.argv:
        if isinstance(arg, str):
            word = _plain_word(arg)
        else:
            word = quoted_word(arg, expansions)
            if _split_word(word) != (expand(arg, expansions),):
                raise VerifyError(_SPLIT_OTHERWISE)
        words.append(word)
    if command != " ".join(words):
        raise VerifyError("command: supervisor reads another command line than intended")


_SPLIT_OTHERWISE = "command: supervisor splits it into other arguments than intended"


@lru_cache(maxsize=REMEMBERED)
def _plain_word(arg: str) -> str:
    """The quoted word of an argument without expansions, once it splits back into it."""
    word = quoted_word(arg, {})
    if _split_word(word) != (arg,):
        raise VerifyError(_SPLIT_OTHERWISE)  # raised again each time: not remembered
    return word


@lru_cache(maxsize=REMEMBERED)
def _split_word(word: str) -> tuple[str, ...]:
    if _PLAIN_WORD.fullmatch(word):
        # No space, quote or backslash: shlex.split makes it one argument, itself (a
        # property test holds shlex to that); most words of a command are such.
        return (word,)
    try:
        return tuple(shlex.split(word))
    except ValueError:
        return ()


def supervisor_expand(process_name: str, program: Section, num: int) -> str:
    """A process's name as supervisor's ``expand`` makes it from the option it read."""
    return str(supervisor_options.expand(process_name, program.expansions(num),
                                         "process_name"))
