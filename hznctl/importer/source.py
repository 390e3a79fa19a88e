"""Reading hand-written supervisord files as supervisord reads them.

Values are parsed by supervisor's own ``UnhosedConfigParser`` and converted with its
datatypes; lines are kept so that every finding points at its file:line. Files are bounded
in size, ``[include]`` is followed only inside the including file's folder, and anything
hznctl cannot express is said as a warning, never dropped silently.
"""

from __future__ import annotations

import configparser
import glob
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hznctl.diagnostics import Diagnostic, Severity
from hznctl.errors import HznctlError

MAX_FILE_BYTES = 1 << 20
MAX_FILES = 1000
MAX_INCLUDE_DEPTH = 8
# supervisord's own sections: they stay in the host's supervisord.conf.
DAEMON_SECTIONS = ("supervisord", "supervisorctl", "unix_http_server", "inet_http_server",
                   "rpcinterface:")
_SECTION = re.compile(r"^\[([^\]]+)\]")
_OPTION = re.compile(r"^([^\s=:;#][^=:]*?)\s*[=:]")
# Expansions supervisord resolves from what it knows at start; ENV_ ones come from its
# own environment, which an import cannot see.
_EXPANSION = re.compile(r"%\(([^)]*)\)[-#0 +]*\d*(?:\.\d+)?[sd]")


class ImportError_(HznctlError):
    """A source file cannot be imported; nothing is written."""


@dataclass
class SourceProgram:
    """One ``[program:x]`` section, its raw values and where each was written."""

    name: str
    file: str
    line: int
    values: dict[str, str]
    lines: dict[str, int]

    def line_of(self, option: str) -> int:
        return self.lines.get(option, self.line)

    def warning(self, option: str | None, message: str) -> Diagnostic:
        line = self.line_of(option) if option else self.line
        where = f"program:{self.name}" + (f".{option}" if option else "")
        return Diagnostic(self.file, line, 1, where, message, Severity.WARNING)


@dataclass
class Sources:
    programs: list[SourceProgram] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read_text(path: Path, shown: str) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ImportError_(f"{shown}: cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ImportError_(f"{shown}: not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise ImportError_(f"{shown}: {info.st_size} bytes, more than the "
                               f"{MAX_FILE_BYTES} a supervisord file may have here")
        data = os.read(fd, MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise ImportError_(f"{shown}: larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ImportError_(f"{shown}:{line}: not UTF-8 text") from None


def _places(text: str) -> dict[tuple[str, str], int]:
    """(section, option) -> line; (section, "") -> the header's line."""
    places: dict[tuple[str, str], int] = {}
    section = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = _SECTION.match(line)
        if header:
            section = header.group(1).strip()
            places.setdefault((section, ""), number)
            continue
        option = _OPTION.match(line)
        if option and section:
            places.setdefault((section, option.group(1).strip().lower()), number)
    return places


def _parse(text: str, shown: str) -> configparser.RawConfigParser:
    from supervisor.options import UnhosedConfigParser

    parser = UnhosedConfigParser()
    try:
        parser.read_string(text, shown)
    except configparser.MissingSectionHeaderError as exc:
        raise ImportError_(f"{shown}:{exc.lineno}: a value before any [section]") from None
    except configparser.ParsingError as exc:
        line = exc.errors[0][0] if exc.errors else 1
        raise ImportError_(f"{shown}:{line}: supervisord cannot parse this line") from None
    except configparser.Error as exc:
        raise ImportError_(f"{shown}: supervisord cannot parse it: "
                           f"{exc.message.splitlines()[0]}") from None
    parser_: configparser.RawConfigParser = parser
    return parser_


def read_sources(files: Sequence[Path]) -> Sources:
    """Every program of ``files`` (and of the files they include, inside their folder)."""
    sources = Sources()
    seen: set[Path] = set()
    queue: list[tuple[Path, int]] = [(Path(f), 0) for f in files]
    while queue:
        path, depth = queue.pop(0)
        real = path.resolve()
        if real in seen:
            continue
        seen.add(real)
        if len(seen) > MAX_FILES:
            raise ImportError_(f"more than {MAX_FILES} supervisord files to read")
        for include in _read_one(path, sources):
            if depth + 1 > MAX_INCLUDE_DEPTH:
                raise ImportError_(f"{_display(path)}: includes nested more than "
                                   f"{MAX_INCLUDE_DEPTH} deep")
            queue.append((include, depth + 1))
    sources.programs.sort(key=lambda p: p.name)
    names = [p.name for p in sources.programs]
    for program in sources.programs:
        if names.count(program.name) > 1:
            raise ImportError_(f"{program.file}:{program.line}: [program:{program.name}] is "
                               "defined in more than one file (supervisord would merge them)")
    return sources


def _read_one(path: Path, sources: Sources) -> Iterator[Path]:
    shown = _display(path)
    text = _read_text(path, shown)
    parser = _parse(text, shown)
    places = _places(text)
    for section in parser.sections():
        line = places.get((section, ""), 1)
        if section.startswith("program:"):
            sources.programs.append(_program(parser, section, shown, places))
        elif section == "include":
            yield from _includes(parser, path, shown, places)
        elif section.startswith(("eventlistener:", "fcgi-program:")):
            sources.warnings.append(Diagnostic(
                shown, line, 1, section,
                f"[{section}] is not imported: hznctl runs worker programs only; keep it in "
                "the host's own supervisord configuration", Severity.WARNING))
        elif section.startswith("group:"):
            sources.warnings.append(Diagnostic(
                shown, line, 1, section,
                f"[{section}] is not imported: hznctl makes one group per worker group "
                "(<application>-<worker>), so its programs' names change", Severity.WARNING))
        elif not section.startswith(DAEMON_SECTIONS):
            sources.warnings.append(Diagnostic(
                shown, line, 1, section, f"[{section}] is not a section hznctl imports",
                Severity.WARNING))


def _program(parser: configparser.RawConfigParser, section: str, shown: str,
             places: dict[tuple[str, str], int]) -> SourceProgram:
    name = section.split(":", 1)[1].strip()
    values = {option: parser.get(section, option) for option in parser.options(section)}
    lines = {option: places.get((section, option), places.get((section, ""), 1))
             for option in values}
    return SourceProgram(name, shown, places.get((section, ""), 1), values, lines)


def _includes(parser: configparser.RawConfigParser, path: Path, shown: str,
              places: dict[tuple[str, str], int]) -> Iterator[Path]:
    if not parser.has_option("include", "files"):
        return
    line = places.get(("include", "files"), 1)
    folder = path.resolve().parent
    for pattern in parser.get("include", "files").split():
        if "%(" in pattern:
            raise ImportError_(f"{shown}:{line}: include.files uses an expansion "
                               f"({pattern}); name the files to import instead")
        full = pattern if os.path.isabs(pattern) else str(folder / pattern)
        for match in sorted(glob.glob(full)):
            found = Path(match).resolve()
            if not found.is_relative_to(folder):
                raise ImportError_(f"{shown}:{line}: include.files reaches {match}, outside "
                                   f"{_display(folder)}; name the files to import instead")
            yield found


def expansions(value: str) -> list[str]:
    """The names of the %(name)s expansions in ``value``."""
    return [m.group(1) for m in _EXPANSION.finditer(value.replace("%%", ""))]


def expand(value: str, known: dict[str, str | int]) -> str:
    """``value`` with supervisord's expansions resolved (``%%`` is a literal ``%``)."""
    from supervisor.options import expand as supervisor_expand

    result: str = supervisor_expand(value, known, "value")
    return result
