"""The policy (policy.yaml): roles, what each role may change, and who holds which role.

The old web app's Spatie roles and policies, for a repository: a pull request is the
action, so ``hznctl policy check`` checks each change it makes against the roles of its
author, and ``hznctl codeowners`` asks the right people to review it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, Strict, StringConstraints

from hznctl.models.common import PATTERN_HELP, Model, SingleLine, Slug
from hznctl.models.secret import SECRET_FILE_PATTERN


class PolicyKind(StrEnum):
    """What a permission is about: a kind of inventory object, or all of them (``*``)."""

    ALL = "*"
    APPLICATIONS = "applications"
    CONNECTIONS = "connections"
    HOSTS = "hosts"
    SECRETS = "secrets"
    NOTIFICATIONS = "notifications"
    POLICY = "policy"
    PROJECT = "project"


class Action(StrEnum):
    ADD = "add"
    CHANGE = "change"
    REMOVE = "remove"


# Who: a git author email, a GitHub user (@login) or a GitHub team (@org/team).
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
USER_PATTERN = r"^@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$"
TEAM_PATTERN = r"^@[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9_.-]{1,100}$"
IDENTITY_PATTERN = f"{EMAIL_PATTERN}|{USER_PATTERN}|{TEAM_PATTERN}"
MEMBER_PATTERN = f"{EMAIL_PATTERN}|{USER_PATTERN}"
# A field path as `hznctl policy check` shows it; `*` stands for any name or key.
FIELD_PATTERN = r"^[A-Za-z0-9_*][A-Za-z0-9_.*\[\]-]{0,255}$"
PATTERN_HELP[IDENTITY_PATTERN] = (
    "a git author email (alice@example.com), a GitHub user (@alice) or team (@acme/ops)"
)
PATTERN_HELP[MEMBER_PATTERN] = "a git author email (alice@example.com) or a GitHub user (@alice)"
PATTERN_HELP[TEAM_PATTERN] = "a GitHub team written @org/team"
PATTERN_HELP[FIELD_PATTERN] = (
    "a field path such as workers[*].max_processes (`*` matches any name)"
)

Identity = Annotated[str, StringConstraints(pattern=IDENTITY_PATTERN)]
Member = Annotated[str, StringConstraints(pattern=MEMBER_PATTERN)]
TeamName = Annotated[str, StringConstraints(pattern=TEAM_PATTERN)]
FieldPattern = Annotated[str, StringConstraints(pattern=FIELD_PATTERN)]
SecretFile = Annotated[str, StringConstraints(pattern=SECRET_FILE_PATTERN)]


class Permission(Model):
    """Some actions on some kinds, optionally only in some environments or applications."""

    kinds: list[Annotated[PolicyKind, Strict(False)]] = Field(
        min_length=1, description="Kinds of object; `*` is every kind."
    )
    actions: list[Annotated[Action, Strict(False)]] = Field(
        default_factory=lambda: [Action.ADD, Action.CHANGE, Action.REMOVE],
        min_length=1, description="add, change, remove; default: all three.",
    )
    environments: list[Slug] = Field(
        default_factory=list,
        description="Only objects of these environments; empty: every environment and the "
        "objects that belong to none (project, policy).",
    )
    applications: list[Slug] = Field(
        default_factory=list, description="Only these applications (kind applications)."
    )
    fields: list[FieldPattern] = Field(
        default_factory=list,
        description="Only these fields (action change), e.g. workers[*].max_processes; a "
        "field covers everything under it.",
    )


class Role(Model):
    description: SingleLine | None = None
    permissions: list[Permission] = Field(
        default_factory=list, description="What members of the role may change; empty: nothing."
    )


class Policy(Model):
    """Who may change what in the inventory."""

    roles: dict[Slug, Role] = Field(
        min_length=1, description="Roles by name; `admin` is required and alone may change "
        "the policy."
    )
    members: dict[Identity, list[Slug]] = Field(
        default_factory=dict,
        description="Roles of each git author email, GitHub user (@login) or team (@org/team).",
    )
    teams: dict[TeamName, list[Member]] = Field(
        default_factory=dict,
        description="Members of GitHub teams, so that checks work without asking GitHub.",
    )
    shared_secrets: dict[SecretFile, list[Slug]] = Field(
        default_factory=dict,
        description="Secret files that objects of several environments may refer to, with "
        "those environments; any other secret file belongs to one environment.",
    )
