"""`hznctl schema`."""

from __future__ import annotations

from pathlib import Path

import click

from hznctl.cli.options import absolute_path, shown
from hznctl.schema import write_schemas


@click.command()
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              callback=absolute_path,
              default=Path("schemas"), show_default=True, help="Folder to write into.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 if a schema in --out is missing or out of date.")
def schema(out: Path, check: bool) -> int:
    """Write one JSON Schema per inventory kind (project, application, connection, …).

    Editors use them through the `# yaml-language-server: $schema=…` comment at the top of
    each inventory file; CI runs --check so that the committed schemas never go stale.
    """
    result = write_schemas(out, check=check)
    if check:
        for path in result.stale:
            click.echo(f"{shown(path)}: out of date "
                       f"(run `hznctl schema --out {shown(out)}`)", err=True)
        if result.stale:
            return 1
        click.echo(f"schemas in {shown(out)} are up to date")
        return 0
    for path in result.written:
        click.echo(f"wrote {shown(path)}")
    if not result.written:
        click.echo(f"schemas in {shown(out)} are up to date")
    return 0
