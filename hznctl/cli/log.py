"""`hznctl log`."""

from __future__ import annotations

from pathlib import Path

import click

from hznctl.cli.options import absolute_path, inventory_argument
from hznctl.cli.output import format_option, show


@click.command()
@inventory_argument
@click.option("--since", metavar="REV",
              help="Only commits after this git revision (default: the whole history).")
@click.option("--deploy-records", "records", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path), callback=absolute_path,
              help="Deploy records (JSON lines written by `hznctl deploy`) to show among the "
              "commits; repeatable.")
@format_option("changelog")
def log(path: Path, since: str | None, records: tuple[Path, ...], output_format: str) -> int:
    """The activity log of the inventory at PATH: who changed which object and field, when,
    in which commit, read from git history (and deploys, with --deploy-records).
    """
    from hznctl.errors import UsageError
    from hznctl.inventory import display_path
    from hznctl.policy.changelog import changelog

    for record in records:
        if not record.is_file():
            raise UsageError(f"deploy records {str(record)!r}: no such file")
    result = changelog(path, since, records, label=display_path(path))
    if not result.entries:
        click.echo(f"hznctl: note: no commit{' after ' + since if since else ''} changes "
                   f"{display_path(path)}", err=True)
    return show("changelog", output_format, result)
