"""`validate`: load the inventory and check every rule; the verdict with every finding."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hznctl.diagnostics import Diagnostic, sort_diagnostics
from hznctl.inventory import Inventory, load_inventory
from hznctl.rules import run_rules
from hznctl.system import paused_gc


@dataclass
class ValidationResult:
    inventory: Inventory
    diagnostics: list[Diagnostic]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]

    def ok(self, *, strict: bool = False) -> bool:
        return not self.errors and not (strict and self.warnings)


def validate_inventory(root: Path) -> ValidationResult:
    """Load the inventory at ``root`` and run every rule; never raises for a user's mistake."""
    with paused_gc():  # the rules walk the same large structures (see paused_gc)
        loaded = load_inventory(root)
        diagnostics = list(loaded.diagnostics)
        if loaded.inventory.project is not None or loaded.inventory.documents:
            diagnostics.extend(run_rules(loaded.inventory))
        return ValidationResult(loaded.inventory, sort_diagnostics(diagnostics))
