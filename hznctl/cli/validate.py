"""`hznctl validate`."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import click

from hznctl import diagnostics
from hznctl.cli.options import inventory_argument
from hznctl.cli.output import Printed, format_option, show
from hznctl.validate import ValidationResult, validate_inventory


def summary(result: ValidationResult, *, strict: bool) -> str:
    """One line: the verdict and what was read."""
    inv = result.inventory
    verdict = "valid" if result.ok(strict=strict) else "invalid"
    strict_note = " (--strict: warnings fail)" if strict and result.warnings else ""
    return (
        f"{verdict}: {len(result.errors)} error(s), {len(result.warnings)} warning(s)"
        f"{strict_note} in {len(inv.documents)} file(s): {len(inv.applications)} "
        f"application(s), {len(inv.connections)} connection(s), {len(inv.hosts)} host(s), "
        f"{len(inv.notifications)} notification channel(s)"
    )


class Shown(NamedTuple):
    """A verdict as the command shows it."""

    result: ValidationResult
    strict: bool
    quiet: bool

    @property
    def ok(self) -> bool:
        return self.result.ok(strict=self.strict)


def render_json(shown: Shown) -> str:
    return diagnostics.render_json(shown.result.diagnostics, valid=shown.ok, strict=shown.strict,
                                   summary=summary(shown.result, strict=shown.strict))


def render_text(shown: Shown) -> Printed:
    printed = Printed().out(diagnostics.render_text(shown.result.diagnostics))
    if not (shown.quiet and shown.ok):
        printed.out(summary(shown.result, strict=shown.strict) + "\n")
    return printed


def render_github(shown: Shown) -> Printed:
    printed = Printed().out(diagnostics.render_github(shown.result.diagnostics))
    if not (shown.quiet and shown.ok):
        # On stderr, so that stdout holds nothing but workflow commands.
        printed.err(summary(shown.result, strict=shown.strict) + "\n")
    return printed


@click.command()
@inventory_argument
@format_option("validation")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing when the inventory is valid.")
def validate(path: Path, output_format: str, strict: bool, quiet: bool) -> int:
    """Check the inventory at PATH (default: inventory/) against every schema and rule.

    Every problem is reported at once as FILE:LINE:COL: FIELD: MESSAGE (hint). Exit 0 when
    valid, 1 when there are errors (or warnings with --strict), 2 on a usage error.
    """
    shown = Shown(validate_inventory(path), strict, quiet)
    return show("validation", output_format, shown, ok=shown.ok)
