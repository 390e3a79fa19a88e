"""The one spelling of every manifest hznctl writes: block YAML, keys in the order built.

Manifests hold only mappings with text keys, lists, text, integers and booleans, so a small
emitter writes them: PyYAML's general one spends most of a large compile representing
values. Text is written plain only when YAML cannot read it as anything else (it starts
with a letter, ``_`` or ``/``, is no YAML 1.1 boolean or null word, and holds no character
YAML gives a meaning); text of several lines as a literal block; everything else
double-quoted with YAML's escapes.
Property-tested against PyYAML's reader.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./@%+=,:~-]*\Z")
# YAML 1.1 resolves these (any case) to booleans or null; 1.2 readers to fewer of them.
_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
_ESCAPED = re.compile(r'[^\x20-\x7e]|["\\]')
_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else (
        f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def _quote(value: str) -> str:
    """YAML's double-quoted style, ASCII only (astral characters as \\U, not surrogates)."""
    return '"' + _ESCAPED.sub(_escape, value) + '"'


def _text(value: str) -> str:
    if _PLAIN.match(value) and not value.endswith(":") and value.lower() not in _WORDS:
        return value
    return _quote(value)


def _block(value: str, indent: str) -> str | None:
    """``value`` as a literal block at ``indent``, when one reads back exactly."""
    if not value.endswith("\n") or value.endswith("\n\n") or value.startswith((" ", "\n")):
        return None
    lines = value[:-1].split("\n")
    if not all(line.isascii() and line.isprintable() and line == line.rstrip()
               for line in lines):
        return None
    return "|\n" + "".join(f"{indent}{line}\n" if line else "\n" for line in lines)


def _scalar(value: Any, indent: str) -> str:
    if value is True:
        return "true\n"
    if value is False:
        return "false\n"
    if isinstance(value, int):
        return f"{value}\n"
    if isinstance(value, str):
        if "\n" in value and (block := _block(value, indent)) is not None:
            return block
        return _text(value) + "\n"
    raise TypeError(f"cannot write {type(value).__name__} in a manifest")


def _mapping(data: dict[str, Any], indent: str, out: list[str], first: str | None = None
             ) -> None:
    """Write ``data``'s entries at ``indent``; the first one after ``first`` (a "- ")."""
    for index, (key, value) in enumerate(data.items()):
        out.append(first if index == 0 and first is not None else indent)
        out.append(_text(key) + ":")
        _value(value, indent, out)


def _value(value: Any, indent: str, out: list[str]) -> None:
    """A mapping entry's value, after its key and colon."""
    if isinstance(value, dict):
        if not value:
            out.append(" {}\n")
        else:
            out.append("\n")
            _mapping(value, indent + "  ", out)
    elif isinstance(value, list):
        if not value:
            out.append(" []\n")
        else:
            out.append("\n")
            _sequence(value, indent, out)
    else:
        out.append(" " + _scalar(value, indent + "  "))


def _sequence(items: list[Any], indent: str, out: list[str]) -> None:
    for item in items:
        if isinstance(item, dict) and item:
            _mapping(item, indent + "  ", out, first=indent + "- ")
        elif isinstance(item, list) and item:
            out.append(indent + "-\n")
            _sequence(item, indent + "  ", out)
        elif isinstance(item, dict | list):
            out.append(indent + ("- {}\n" if isinstance(item, dict) else "- []\n"))
        else:
            out.append(indent + "- " + _scalar(item, indent + "  "))


def dump(document: dict[str, Any]) -> bytes:
    """One YAML document (ASCII: everything else is escaped)."""
    out: list[str] = []
    _mapping(document, "", out)
    return "".join(out).encode("ascii")


def dump_all(documents: Iterable[dict[str, Any]]) -> bytes:
    return b"---\n".join(dump(d) for d in documents)


def load(data: bytes) -> Any:
    return yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
