"""`hznctl validate`."""

from __future__ import annotations

from pathlib import Path

import click

from hznctl.cli.options import format_option, inventory_argument
from hznctl.diagnostics import RENDERERS, render_json
from hznctl.validate import validate_inventory


@click.command()
@inventory_argument
@format_option("text", "json", "github")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing when the inventory is valid.")
def validate(path: Path, output_format: str, strict: bool, quiet: bool) -> int:
    """Check the inventory at PATH (default: inventory/) against every schema and rule.

    Exit 0 when valid, 1 when there are errors (or warnings with --strict).
    """
    result = validate_inventory(path)
    ok = result.ok(strict=strict)
    if output_format == "json":
        click.echo(render_json(result.diagnostics, valid=ok), nl=False)
    else:
        click.echo(RENDERERS[output_format](result.diagnostics), nl=False)
        if output_format == "text" and not (quiet and ok):
            inv = result.inventory
            summary = (
                f"{len(result.errors)} error(s), {len(result.warnings)} warning(s) in "
                f"{len(inv.documents)} file(s): {len(inv.applications)} application(s), "
                f"{len(inv.connections)} connection(s), {len(inv.hosts)} host(s)"
            )
            click.echo(("valid: " if ok else "invalid: ") + summary, err=not ok)
    return 0 if ok else 1
