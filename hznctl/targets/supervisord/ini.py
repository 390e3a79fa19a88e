"""The one gate between a value and a supervisord INI line.

What supervisor 4.3 does with a value (measured, see issue 3): a newline adds lines (and
so sections and programs); ` ;` or ` #` starts a comment even inside quotes; `%` starts an
expansion (`%%` is a literal `%`); leading and trailing spaces are stripped; it reads the
file in the locale's encoding. Every value reaching a template passes ``ini_value``: what
it cannot write so that supervisor reads back exactly the same value, it rejects.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

from hznctl.argv import Arg, Part

MAX_VALUE = 32768  # well under Linux's 128 KiB limit for one argument of a command
_SAFE_ARG = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
_COMMENT = re.compile(r"\s[;#]")
_NOT_PRINTABLE_ASCII = re.compile(r"[^ -~]")  # the first character outside space … tilde
# Printable ASCII, no space, not starting a comment: what most values are.
_PLAIN_VALUE = re.compile(r"[!-\"$-:<-~][!-~]*")
_CHAR_NAMES = {
    "\n": "a newline", "\r": "a carriage return", "\x00": "a NUL character",
    "\t": "a tab", "\x85": "a next-line character (U+0085)",
    "\u2028": "a line separator (U+2028)", "\u2029": "a paragraph separator (U+2029)",
}


class UnsafeValue(ValueError):
    """A value supervisord would not read back as written; the message says why."""


class IniText(str):
    """Text that already passed ``ini_value``: templates print it as it is."""


def _describe(char: str) -> str:
    return _CHAR_NAMES.get(char, f"the character U+{ord(char):04X}")


def value_problem(text: str) -> str | None:
    """Why ``text`` cannot be written as a supervisord value, or None when it can."""
    if _PLAIN_VALUE.fullmatch(text) and len(text) <= MAX_VALUE:
        return None  # printable ASCII without a space: none of the checks can fail
    return _checked_problem(text)


def _checked_problem(text: str) -> str | None:
    outside = _NOT_PRINTABLE_ASCII.search(text)
    if outside is not None:
        char = outside.group()
        if ord(char) > 127 and char not in _CHAR_NAMES:
            return (f"contains {_describe(char)}: supervisord reads its configuration in "
                    "the locale's encoding, so only ASCII is written")
        return f"contains {_describe(char)}, which supervisord's configuration cannot hold"
    if text != text.strip(" "):
        return "starts or ends with a space, which supervisord strips"
    if _COMMENT.search(text):
        return "contains ' ;' or ' #', which starts a comment in supervisord's configuration"
    if text[:1] in (";", "#"):
        return "starts with ';' or '#', which supervisord reads as a comment"
    if len(text) > MAX_VALUE:
        return f"is longer than {MAX_VALUE} characters"
    return None


def ini_value(value: str | Sequence[Part]) -> IniText:
    """``value`` as written on an INI line (``%`` doubled), or UnsafeValue."""
    if isinstance(value, str | tuple):
        # Most values recur in every program (true, 999, a user, a folder): check each once.
        return _remembered_ini_value(value)
    return _ini_value(value)


# Values, arguments and words remembered by each of the target's memos: the common ones
# (true, 999, a user, a folder) recur in every program; those naming one program (its log
# file) would only fill them, so they are bounded.
REMEMBERED = 8192


@functools.lru_cache(maxsize=REMEMBERED)
def _remembered_ini_value(value: str | tuple[Part, ...]) -> IniText:
    return _ini_value(value)  # a rejected value raises and is not remembered


def _ini_value(value: str | Sequence[Part]) -> IniText:
    if isinstance(value, str):
        problem = value_problem(value)
        if problem is not None:
            raise UnsafeValue(problem)
        return IniText(value.replace("%", "%%"))
    parts: Sequence[Part] = [value] if isinstance(value, str) else value
    # An expansion stands for digits: check the text supervisor will see around them.
    seen = "".join(p if isinstance(p, str) else "0" for p in parts)
    problem = value_problem(seen)
    if problem is not None:
        raise UnsafeValue(problem)
    return IniText("".join(p.replace("%", "%%") if isinstance(p, str) else p.text
                           for p in parts))


def shell_quote(text: str) -> str:
    """Quote for supervisor's ``shlex.split``; ``;`` and ``#`` never follow a space."""
    if _SAFE_ARG.fullmatch(text):
        return text
    quoted = "'" + text.replace("'", "'\\''") + "'"
    # Close the quote around them: `'a '\;'b'` is one argument `a ;b`, with no ` ;` in it.
    return quoted.replace(";", "'\\;'").replace("#", "'\\#'")


def _arg_parts(arg: Arg) -> list[Part]:
    if isinstance(arg, str):
        return [shell_quote(arg)]
    return [shell_quote(p) if isinstance(p, str) else p for p in arg if p != ""]


def command_value(argv: Sequence[Arg]) -> IniText:
    """A command line that supervisor splits back into exactly ``argv``."""
    parts: list[Part] = []
    for index, arg in enumerate(argv):
        if index:
            parts.append(" ")
        parts.extend(_arg_parts(arg))
    return ini_value(parts)


def quoted_word(arg: Arg, expansions: Mapping[str, object]) -> str:
    """One argument as it stands in the command line once supervisor expanded it."""
    return "".join(p if isinstance(p, str) else p.value(expansions) for p in _arg_parts(arg))


def argument_problem(text: str) -> str | None:
    """Why ``text`` cannot be one argument of a program's command, or None."""
    try:
        ini_value(shell_quote(text))
    except UnsafeValue as exc:
        return str(exc)
    return None


def display_command(argv: Sequence[Arg]) -> str:
    """A command line for people (manifests, plans): quoted, expansions as written."""
    return " ".join(
        "".join(shell_quote(p) if isinstance(p, str) else p.text for p in
                ((a,) if isinstance(a, str) else a))
        for a in argv
    )
