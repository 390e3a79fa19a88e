"""The one spelling of every JSON file hznctl writes."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson


def dump_json(data: Any) -> bytes:
    """Pretty, sorted, newline-terminated JSON: the one spelling of every JSON file we write.

    The same bytes as ``json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)``:
    with ``indent`` the standard library falls back to its pure-Python encoder, several
    times slower than building the layout here around the C string encoder.
    """
    parts: list[str] = []
    _pretty(data, "\n", parts)
    parts.append("\n")
    return "".join(parts).encode()


# orjson writes the same bytes as ``dump_json`` for strings (escapes included), ints of 64
# bits, None, bools, and nested dicts and lists, sorted and indented alike; it differs on
# floats in exponent range (``1e-05``: it writes ``0.00001``), on NaN and infinities (it
# writes null) and it refuses what it cannot write (bigger ints, lone surrogates, other keys).
_FAST = (orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS
         | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME)
# A number token spelled in exponent range (an over-wide net: a string may match too, and
# then the slow path only costs time).
_EXPONENT_RANGE = re.compile(rb"(?:: |\n *)-?(?:0\.0000|[0-9.]+e)")


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def dump_plain_json(data: Any, *, floats: bool = True) -> bytes:
    """``dump_json``'s bytes, written by orjson, for data that holds no NaN or infinity
    (orjson writes them as null): a bundle manifest, none of whose fields is a float.
    Finite floats orjson spells otherwise, and what it refuses, take ``dump_json``'s path;
    ``floats=False`` says the data can hold none (its model has no float field), and skips
    looking for them (most of the cost)."""
    try:
        text = orjson.dumps(data, default=_refuse, option=_FAST)
    except TypeError:  # orjson.JSONEncodeError is one
        return dump_json(data)
    if floats and _EXPONENT_RANGE.search(text):
        return dump_json(data)
    return text + b"\n"


_INDENT = "  "
_encode_string = json.encoder.encode_basestring  # the C encoder where there is one
_is_str = str.__instancecheck__
_SCALARS: dict[Any, str] = {None: "null", True: "true", False: "false"}


def _pretty(value: Any, newline: str, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_encode_string(value))
    elif isinstance(value, dict) and value and all(map(_is_str, value)):
        inner = newline + _INDENT
        out.append("{")
        for index, key in enumerate(sorted(value)):
            out.append(("," if index else "") + inner + _encode_string(key) + ": ")
            _pretty(value[key], inner, out)
        out.append(newline + "}")
    elif isinstance(value, list | tuple) and value:
        inner = newline + _INDENT
        out.append("[")
        for index, item in enumerate(value):
            out.append(("," if index else "") + inner)
            _pretty(item, inner, out)
        out.append(newline + "]")
    elif value is None or isinstance(value, bool):
        out.append(_SCALARS[value])
    elif isinstance(value, dict | list | tuple) and not value:
        out.append("{}" if isinstance(value, dict) else "[]")
    elif type(value) is int:
        out.append(int.__repr__(value))
    elif type(value) is float and math.isfinite(value):
        out.append(float.__repr__(value))
    else:  # NaN, infinities, dicts with other keys: the standard encoder's own rules
        text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
        out.append(text.replace("\n", newline))


