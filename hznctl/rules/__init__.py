"""Cross-object rules, registered by name; each yields diagnostics for an inventory.

A rule sees the whole typed inventory (only the objects whose files were valid) and
points each finding at a field through ``Inventory.diagnostic``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable

from hznctl.diagnostics import Diagnostic
from hznctl.inventory import Inventory

Rule = Callable[[Inventory], Iterable[Diagnostic]]

RULES: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    """Register a rule under ``name`` (its diagnostics carry it as their code)."""

    def register(func: Rule) -> Rule:
        RULES[name] = func
        return func

    return register


def run_rules(inventory: Inventory) -> list[Diagnostic]:
    _load_rule_modules()
    found: list[Diagnostic] = []
    for func in RULES.values():
        found.extend(func(inventory))
    return found


# Modules under hznctl.rules whose @rule registrations validate runs; add one name per module.
RULE_MODULES = ("core", "applications", "placement", "secrets", "rendering", "policy",
                "kubernetes")


def _load_rule_modules() -> None:
    for module in RULE_MODULES:
        importlib.import_module(f"hznctl.rules.{module}")
