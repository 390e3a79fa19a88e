"""Helpers shared by the rule modules: names that exist, and the nearest one to a typo."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from hznctl.inventory import Inventory


def names(inventory: Inventory, kind: str) -> set[str]:
    """Names of every object of ``kind`` that has a file, valid or not.

    A reference to an object whose file is broken is not reported again: the broken file
    already has its own diagnostic, and "unknown connection" would only add noise.
    """
    found = set(inventory.objects(kind))
    found.update(name for k, name in inventory.broken if k == kind)
    return found


def nearest(name: str, candidates: Iterable[str]) -> str:
    """A "did you mean" hint for an unknown ``name``, or an empty string."""
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


def unknown_hint(name: str, candidates: Iterable[str], kind_plural: str) -> str:
    pool = sorted(candidates)
    hint = nearest(name, pool)
    if hint:
        return hint
    if not pool:
        return f"there are no {kind_plural} in the inventory"
    shown = ", ".join(pool[:5]) + (", …" if len(pool) > 5 else "")
    return f"known {kind_plural}: {shown}"


class UnknownHints:
    """``unknown_hint`` for many unknown names against one set of candidates.

    difflib compares a name with every candidate (~15 ms against 200 hosts), so a removed
    host that thousands of worker groups name would cost minutes: the candidates are sorted
    once and each distinct name is worked out once.
    """

    def __init__(self, candidates: Iterable[str], kind_plural: str) -> None:
        self._pool = sorted(candidates)
        self._kind_plural = kind_plural
        self._hints: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        hint = self._hints.get(name)
        if hint is None:
            hint = self._hints[name] = unknown_hint(name, self._pool, self._kind_plural)
        return hint


def project_environments(inventory: Inventory) -> set[str] | None:
    """The declared environments, or None when project.yaml could not be read."""
    if inventory.project is None:
        return None
    return set(inventory.project.environments)


def origin(inventory: Inventory, kind: str, name: str, parts: tuple[str | int, ...]) -> str:
    """" (from project.yaml's defaults)" when the field is not written in the object's file.

    Said in the message so that the user knows to look in project.yaml for the value.
    """
    doc = inventory.document(kind, name)
    node = doc.data if doc is not None else None
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return " (from project.yaml's defaults)" if doc is not None else ""
    return ""
