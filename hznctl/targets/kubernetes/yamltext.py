"""The one spelling of every manifest hznctl writes: block YAML, keys in the order built."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

_Base: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_Base):  # type: ignore[valid-type,misc]
    """Text of several lines as a literal block (a Horizon file reads as JSON, not escapes)."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value and _block_safe(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_str(value)


def _block_safe(value: str) -> bool:
    # A literal block holds printable text and newlines only, no trailing spaces on a line.
    return all(line.isprintable() and line == line.rstrip() for line in value.split("\n"))


_Dumper.add_representer(str, _text)


def dump(document: dict[str, Any]) -> bytes:
    """One YAML document. Every string that YAML could read as something else is quoted
    (PyYAML's resolver does that), non-ASCII is escaped, and lines are never folded."""
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=False, width=1 << 30, explicit_start=False)
    return text.encode("ascii")


def dump_all(documents: Iterable[dict[str, Any]]) -> bytes:
    return b"---\n".join(dump(d) for d in documents)


def load(data: bytes) -> Any:
    return yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
