"""`hznctl plan`."""

from __future__ import annotations

from pathlib import Path

import click

from hznctl.cli.options import DEFAULT_INVENTORY, absolute, inventory_folder, jobs_option
from hznctl.cli.output import diagnostics_to_stderr, format_option, show, verdict
from hznctl.errors import EXIT_CHANGES


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--base", metavar="REV",
              help="Compare the inventory at this git revision with the working tree; "
              "takes one PATH (default: inventory/).")
@click.option("--host", "hosts", multiple=True, metavar="NAME", help="Only these hosts.")
@format_option("plan")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 when nothing changes, 2 when something does.")
@jobs_option
def plan(paths: tuple[Path, ...], base: str | None, hosts: tuple[str, ...],
         output_format: str, detailed_exitcode: bool, jobs: int | None) -> int:
    """Show which worker groups a change adds, changes (and why) or removes, per host.

    `hznctl plan OLD NEW` compares two bundle folders (a host's bundle, or folders of
    host bundles written by `hznctl compile`). `hznctl plan --base REV [PATH]` compiles
    the inventory at a git revision and in the working tree and compares them.
    """
    from hznctl.errors import UsageError
    from hznctl.pipeline import plan_against_revision
    from hznctl.plan.compare import plan_bundles

    if base is not None:
        if len(paths) > 1:
            raise UsageError("with --base, give at most one inventory PATH")
        inventory = inventory_folder(paths[0] if paths else Path(DEFAULT_INVENTORY))
        result = plan_against_revision(inventory, base, hosts, jobs=jobs)
    elif len(paths) == 2:
        result = plan_bundles(absolute(paths[0]), absolute(paths[1]), hosts)
    else:
        raise UsageError("give two bundle folders (OLD NEW) or --base REV [PATH]")
    if not result.ok:
        diagnostics_to_stderr(result.diagnostics, "invalid inventory: no plan")
        return verdict(False)
    from hznctl.escape import terminal

    for note in result.notes:
        click.echo(f"hznctl: note: {terminal(note)}", err=True)
    code = show("plan", output_format, result.plans)
    return EXIT_CHANGES if detailed_exitcode and result.has_changes else code
