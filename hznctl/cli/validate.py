"""`hznctl validate`."""

from __future__ import annotations

from pathlib import Path

import click

from hznctl.cli.options import format_option, inventory_argument
from hznctl.diagnostics import render_github, render_json, render_text
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


@click.command()
@inventory_argument
@format_option("text", "json", "github")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing when the inventory is valid.")
def validate(path: Path, output_format: str, strict: bool, quiet: bool) -> int:
    """Check the inventory at PATH (default: inventory/) against every schema and rule.

    Every problem is reported at once as FILE:LINE:COL: FIELD: MESSAGE (hint). Exit 0 when
    valid, 1 when there are errors (or warnings with --strict), 2 on a usage error.
    """
    result = validate_inventory(path)
    ok = result.ok(strict=strict)
    if output_format == "json":
        click.echo(render_json(result.diagnostics, valid=ok, strict=strict,
                               summary=summary(result, strict=strict)), nl=False)
        return 0 if ok else 1
    render = render_github if output_format == "github" else render_text
    click.echo(render(result.diagnostics), nl=False)
    if not (quiet and ok):
        # On stderr for GitHub, so that stdout holds nothing but workflow commands.
        click.echo(summary(result, strict=strict), err=output_format == "github")
    return 0 if ok else 1
