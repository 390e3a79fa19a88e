"""`hznctl policy check`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hznctl.cli.options import inventory_argument
from hznctl.cli.output import Printed, format_option, show

if TYPE_CHECKING:
    from hznctl.policy.check import CheckResult


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
@click.option("--every-commit-author", is_flag=True,
              help="Also check the author email of every commit since --base: each must be "
              "allowed every change (a pull request's commits, not only who opened it).")
@format_option("policy-check")
def check(path: Path, base: str, author: str | None, teams: tuple[str, ...],
          every_commit_author: bool, output_format: str) -> int:
    """Check every change since --base against the author's roles.

    The change set is semantic: objects added, changed (field by field), removed or
    renamed, secret files changed (a new reference to one changes it), and CI files
    (.github/, action.yml: admin only). A change counts in every environment it reaches:
    its object's, and those of the hosts, connections, applications and secrets it
    touches (docs/policy.md). Each change that the author's roles do not allow is reported
    at its file:line with why it reaches where it does and the roles that would allow it.
    Exit 0 when every change is allowed, 1 on a violation, 2 on a usage error (e.g. an
    unknown revision).
    """
    from hznctl.inventory import display_path
    from hznctl.policy.check import author_from_environment, check_policy, normalize_identity

    identity = normalize_identity(author) if author else author_from_environment(os.environ,
                                                                                 path)
    team_ids = tuple(_team(t) for t in teams)
    result = check_policy(path, base, identity, team_ids, label=display_path(path),
                          every_commit_author=every_commit_author)
    from hznctl.escape import terminal

    for note in result.notes:
        click.echo(f"hznctl: note: {terminal(note)}", err=True)
    return show("policy-check", output_format, result, ok=result.ok)


def render_text(result: CheckResult) -> Printed:
    from hznctl.diagnostics import render_text
    from hznctl.escape import terminal

    return Printed().out(render_text(result.diagnostics())).out(terminal(result.summary()) + "\n")


def render_github(result: CheckResult) -> Printed:
    from hznctl.diagnostics import render_github
    from hznctl.escape import terminal

    # The verdict on stderr, so that stdout holds nothing but workflow commands.
    return (Printed().out(render_github(result.diagnostics()))
            .err(terminal(result.summary()) + "\n"))


def _team(raw: str) -> str:
    import re

    from hznctl.errors import UsageError
    from hznctl.models.policy import TEAM_PATTERN

    text = raw.strip() if raw.strip().startswith("@") else "@" + raw.strip()
    if not re.match(TEAM_PATTERN, text):
        raise UsageError(f"team {raw!r} is not a GitHub team written @org/team")
    return text.lower()
