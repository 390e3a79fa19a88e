"""`hznctl codeowners`."""

from __future__ import annotations

from pathlib import Path

import click

from hznctl.cli.options import absolute_path, inventory_argument, shown


@click.command()
@inventory_argument
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), callback=absolute_path,
              default=Path(".github/CODEOWNERS"), show_default=True,
              help="The CODEOWNERS file to write (or compare with).")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 when --out is missing or out of date.")
def codeowners(path: Path, out: Path, check: bool) -> int:
    """Generate .github/CODEOWNERS from policy.yaml (PATH: the inventory, default inventory/).

    Each inventory file is owned by the members of the roles that may change it, so a
    pull request asks them for review. CI runs --check so the committed file never goes
    stale.
    """
    from hznctl.policy.codeowners import codeowners as generate

    result = generate(path, out, check=check)
    out_shown = shown(out)
    if check:
        if result.stale:
            click.echo(f"{out_shown}: out of date with the policy (run `hznctl codeowners "
                       f"--out {out_shown}`)", err=True)
            return 1
        click.echo(f"{out_shown} is up to date")
        return 0
    click.echo(f"wrote {out_shown}" if result.written else f"{out_shown} is up to date")
    return 0
