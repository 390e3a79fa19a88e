"""`hznctl compile`."""

from __future__ import annotations

from pathlib import Path

import click

from hznctl.cli.options import format_option, inventory_argument, jobs_option


@click.command("compile")
@inventory_argument
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder of host bundles to write (DIR/<host>/).")
@click.option("--host", "hosts", multiple=True, metavar="NAME",
              help="Compile only this host (repeatable); other hosts' bundles are kept.")
@format_option("text", "json", "github")
@jobs_option
def compile_command(path: Path, out: Path, hosts: tuple[str, ...], output_format: str,
                    jobs: int | None) -> int:
    """Compile the inventory at PATH into one supervisord bundle per host in --out.

    Validates first (an invalid inventory writes nothing, exit 1). Writes atomically;
    bundles of removed hosts and programs disappear; an unchanged recompile touches no
    file. Exit 0 on success.
    """
    from hznctl.bundle.writer import write_bundles
    from hznctl.diagnostics import RENDERERS, render_json
    from hznctl.gitrev import revision
    from hznctl.pipeline import compile_inventory

    result = compile_inventory(path, hosts=hosts, revision=revision(path), jobs=jobs)
    if not result.ok:
        if output_format == "json":
            click.echo(render_json(result.diagnostics, valid=False), nl=False)
        else:
            click.echo(RENDERERS[output_format](result.diagnostics), nl=False, err=True)
            click.echo("invalid inventory: nothing compiled", err=True)
        return 1
    written = write_bundles(out, result.bundles, prune=not hosts)
    if output_format == "json":
        import json

        payload = {"out": str(out), "written": written.written, "unchanged": written.unchanged,
                   "removed": written.removed,
                   "programs": {h: sorted(b.manifest.groups) for h, b in result.bundles.items()}}
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
        return 0
    for host, bundle in result.bundles.items():
        state = "written" if host in written.written else "unchanged"
        processes = sum(g.processes for g in bundle.manifest.groups.values())
        click.echo(f"{out / host}: {len(bundle.manifest.groups)} program(s), "
                   f"{processes} process(es), {state}")
    for host in written.removed:
        click.echo(f"{out / host}: removed (host no longer in the inventory)")
    return 0
