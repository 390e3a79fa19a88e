"""`hznctl policy check`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from hznctl.cli.options import format_option, inventory_argument


@click.group()
def policy() -> None:
    """Roles from policy.yaml: who may change what in the inventory."""


@policy.command("check")
@inventory_argument
@click.option("--base", required=True, metavar="REV",
              help="The target revision (e.g. origin/main): its policy.yaml is the one in "
              "effect; changes count from where HEAD's branch left it (git merge-base).")
@click.option("--author", metavar="ID",
              help="Who made the change: a git author email or a GitHub user (@login). "
              "Default: $GITHUB_ACTOR as @login, else the author email of HEAD.")
@click.option("--team", "teams", multiple=True, metavar="@ORG/TEAM",
              help="A GitHub team the author belongs to (repeatable), besides the teams "
              "listed in policy.yaml.")
@format_option("text", "json", "github")
def check(path: Path, base: str, author: str | None, teams: tuple[str, ...],
          output_format: str) -> int:
    """Check every change since --base against the author's roles.

    The change set is semantic: objects added, changed (field by field), removed or
    renamed, and secret files changed. Each change that none of the author's roles allows
    is reported at its file:line with the roles that would allow it. Exit 0 when every
    change is allowed, 1 on a violation, 2 on a usage error (e.g. an unknown revision).
    """
    from hznctl.diagnostics import render_github, render_text
    from hznctl.inventory import display_path
    from hznctl.policy.check import author_from_environment, check_policy, normalize_identity

    identity = normalize_identity(author) if author else author_from_environment(os.environ,
                                                                                 path)
    team_ids = tuple(_team(t) for t in teams)
    result = check_policy(path, base, identity, team_ids, label=display_path(path))
    from hznctl.escape import terminal

    for note in result.notes:
        click.echo(f"hznctl: note: {terminal(note)}", err=True)
    if output_format == "json":
        click.echo(json.dumps(result.as_dict(), indent=2, sort_keys=True))
        return 0 if result.ok else 1
    render = render_github if output_format == "github" else render_text
    click.echo(render(result.diagnostics()), nl=False)
    click.echo(terminal(result.summary()), err=output_format == "github")
    return 0 if result.ok else 1


def _team(raw: str) -> str:
    import re

    from hznctl.errors import UsageError
    from hznctl.models.policy import TEAM_PATTERN

    text = raw.strip() if raw.strip().startswith("@") else "@" + raw.strip()
    if not re.match(TEAM_PATTERN, text):
        raise UsageError(f"team {raw!r} is not a GitHub team written @org/team")
    return text.lower()
