"""The one spelling of every JSON file hznctl writes."""

from __future__ import annotations

import json
import math
from typing import Any


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


