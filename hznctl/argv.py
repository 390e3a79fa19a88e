"""A worker's command line as typed values: plain text, or text with expansions in it.

An expansion stands for what the process manager fills in per process (the process's
number, the program's name). Targets spell them in their own syntax; ``Expansion.text``
is supervisord's, the first target's, and the one written into manifests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Expansion:
    """A supervisor expansion we write on purpose (never one taken from the inventory)."""

    text: str

    def value(self, expansions: Mapping[str, object]) -> str:
        return self.text % expansions


PROCESS_NUM = Expansion("%(process_num)02d")
PROGRAM_NAME = Expansion("%(program_name)s")
Part = str | Expansion
# A command-line argument: plain text, or text with expansions in it.
Arg = str | tuple[Part, ...]


def expand(value: Arg, expansions: Mapping[str, object]) -> str:
    """What supervisor makes of ``value`` with these expansions (for verifying)."""
    if isinstance(value, str):
        return value
    return "".join(p if isinstance(p, str) else p.value(expansions) for p in value)


def display(value: Arg) -> str:
    """A value as supervisor's syntax shows it (expansions as written), for manifests."""
    if isinstance(value, str):
        return value
    return "".join(p if isinstance(p, str) else p.text for p in value)
