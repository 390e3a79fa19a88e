"""`hznctl init`."""

from __future__ import annotations

from pathlib import Path

import click

from hznctl.cli.options import absolute_path, shown
from hznctl.scaffold.repository import DEFAULT_ACTION, InitOptions, init_repository


@click.command()
@click.argument("directory", type=click.Path(path_type=Path), callback=absolute_path)
@click.option("--name", help="Project name in project.yaml (default: the folder's name).")
@click.option("--environment", "environments", multiple=True, metavar="NAME",
              help="An environment (repeatable; default: production and staging).")
@click.option("--action", default=DEFAULT_ACTION, show_default=True, metavar="OWNER/REPO@REF",
              help="Where the workflows get hznctl's GitHub action (and pre-commit its hooks).")
@click.option("--health-recipient", metavar="AGE",
              help="The health runner's existing age public key (default: make a new key).")
def init(directory: Path, name: str | None, environments: tuple[str, ...], action: str,
         health_recipient: str | None) -> int:
    """Create a new inventory repository in DIRECTORY (new or empty).

    Writes inventory/ (project.yaml and a folder per kind), .sops.yaml, the validate, deploy
    and health workflows, pre-commit hooks, JSON Schemas for editors and an operator README.
    The result validates as it is. Unless --health-recipient is given, a new age key for the
    health runner is written to .hznctl/health-runner.agekey (ignored by git).
    """
    options = InitOptions(
        name=name or directory.resolve().name,
        environments=environments or ("production", "staging"),
        action=action,
        health_recipient=health_recipient,
    )
    result = init_repository(directory, options)
    where = shown(directory)
    click.echo(f"created {where}/ ({len(result.files)} files); it validates as it is")
    if result.health_key is not None:
        click.echo(
            f"health runner key: {shown(result.health_key)} "
            f"(public key {result.health_recipient});\n"
            "  store its contents as the repository secret HZNCTL_HEALTH_AGE_KEY; keep the file "
            "out of git (it is ignored)")
    click.echo(f"next: cd {where} && git init && hznctl new host --help")
    return 0
