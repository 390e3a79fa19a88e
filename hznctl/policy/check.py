"""`policy check`: may this author make these changes? Each change against their roles.

The policy in effect is the one at the base revision: a pull request that edits
policy.yaml is checked against the policy it edits, so nobody grants themselves a role.
Changing the policy needs the admin role; an author with no role may change nothing.
"""

from __future__ import annotations

import functools
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hznctl.diagnostics import Diagnostic, sort_diagnostics
from hznctl.errors import HznctlError, UsageError
from hznctl.gitrev import resolve_revision
from hznctl.models.policy import EMAIL_PATTERN, USER_PATTERN, Action, Permission, Policy, PolicyKind
from hznctl.policy.changes import FieldChange, ObjectChange, changes_since
from hznctl.policy.snapshot import Snapshot, git_snapshot, merge_base

ADMIN = "admin"
_GLOBAL_KINDS = ("project", "policy")


def normalize_identity(raw: str) -> str:
    """An author as the policy lists them: email, @login; a bare login is a GitHub user."""
    text = raw.strip()
    if text and not text.startswith("@") and "@" not in text:
        text = "@" + text
    if not (re.match(EMAIL_PATTERN, text) or re.match(USER_PATTERN, text)):
        raise UsageError(f"author {raw!r} is neither a git author email nor a GitHub user "
                         "(@login)")
    return text.lower()


def author_from_environment(environ: Mapping[str, str], root: Path) -> str:
    """In a workflow, the GitHub actor; elsewhere, the author email of HEAD."""
    actor = environ.get("GITHUB_ACTOR", "").strip()
    if actor:
        return normalize_identity(actor)
    try:
        result = subprocess.run(["git", "log", "-1", "--format=%ae"], cwd=root,
                                capture_output=True, text=True, check=False)
    except OSError:
        result = None
    if result is None or result.returncode != 0 or not result.stdout.strip():
        raise UsageError("cannot tell who the author is: pass --author (an email or @login)")
    return normalize_identity(result.stdout.strip())


def roles_of(policy: Policy, identity: str, teams: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The roles an author holds directly, through the teams given, or the policy's teams."""
    ids = {identity.lower(), *(t.lower() for t in teams)}
    ids.update(team.lower() for team, members in policy.teams.items()
               if identity.lower() in {m.lower() for m in members})
    return tuple(sorted({role for member, roles in policy.members.items()
                         if member.lower() in ids for role in roles if role in policy.roles}))


@functools.lru_cache(maxsize=256)
def _field_regex(pattern: str) -> re.Pattern[str]:
    body = re.escape(pattern).replace(r"\*", r"[^.\[\]]*")
    return re.compile(body + r"(?:[.\[].*)?")


def field_matches(pattern: str, path: str) -> bool:
    """``workers[*].max_processes`` matches ``workers[payments].max_processes``; a field
    covers everything under it (``workers`` covers every worker group)."""
    return _field_regex(pattern).fullmatch(path) is not None


def covers(permission: Permission, change: ObjectChange, action: str,
           field_path: str | None) -> bool:
    """Does ``permission`` allow ``action`` on ``change`` (one field of it, if given)?"""
    kinds = set(permission.kinds)
    if PolicyKind.ALL not in kinds and change.policy_kind not in kinds:
        return False
    if action not in permission.actions:
        return False
    if permission.environments and not (
        change.environments and set(change.environments) <= set(permission.environments)
    ):
        return False
    if permission.applications and not (
        change.policy_kind == "applications" and change.applications
        and set(change.applications) <= set(permission.applications)
    ):
        return False
    return not permission.fields or (
        action == Action.CHANGE and field_path is not None
        and any(field_matches(p, field_path) for p in permission.fields)
    )


def allowed_for(policy: Policy, change: ObjectChange, action: str,
                field_path: str | None) -> tuple[str, ...]:
    """The roles that may make this change."""
    if change.policy_kind == "policy":
        return (ADMIN,) if ADMIN in policy.roles else ()
    return tuple(sorted(name for name, role in policy.roles.items()
                        if any(covers(p, change, action, field_path) for p in role.permissions)))


@dataclass(frozen=True)
class Violation:
    change: ObjectChange
    action: str
    field: FieldChange | None
    author: str
    roles: tuple[str, ...]
    allowed: tuple[str, ...]
    hint: str = ""

    @property
    def message(self) -> str:
        who = f"{self.author} ({_roles_text(self.roles)})"
        verb = "rename" if self.change.action == "rename" else self.action
        why = " (a rename removes one object and adds another)" if verb == "rename" else ""
        allowed = ", ".join(self.allowed) or "no role"
        return (f"{who} may not {verb} {_what(self.change)}{_scope(self.change)}{why}; "
                f"allowed for: {allowed}")

    def diagnostic(self) -> Diagnostic:
        line, col = (self.field.line, self.field.col) if self.field else (
            self.change.line, self.change.col)
        path = self.field.path if self.field else ""
        return Diagnostic(self.change.file, line, col, path, self.message,
                          code="policy", hint=self.hint)

    def as_dict(self) -> dict[str, Any]:
        return {**self.diagnostic().as_dict(), "object": self.change.subject,
                "action": self.action, "roles": list(self.roles),
                "allowed_for": list(self.allowed)}


def _roles_text(roles: tuple[str, ...]) -> str:
    if not roles:
        return "no role"
    return f"role {roles[0]}" if len(roles) == 1 else f"roles {', '.join(roles)}"


def _what(change: ObjectChange) -> str:
    if change.kind == "secret" and change.used_by:
        return f"secrets of {', '.join(change.used_by)}"
    if change.kind == "file":
        return "project (files that are no object count as project)"
    return change.policy_kind


def _scope(change: ObjectChange) -> str:
    if change.policy_kind in _GLOBAL_KINDS:
        return ""
    if not change.environments:
        return " in every environment"
    word = "environment" if len(change.environments) == 1 else "environments"
    return f" in {word} {', '.join(change.environments)}"


def describe(permission: Permission) -> str:
    """A permission in words: 'change applications mailer, reports in staging (fields …)'."""
    text = f"{'/'.join(permission.actions)} {', '.join(permission.kinds)}"
    if permission.applications:
        text += f" {', '.join(permission.applications)}"
    if permission.environments:
        text += f" in {', '.join(permission.environments)}"
    if permission.fields:
        text += f" (fields {', '.join(permission.fields)})"
    return text


def _hint(policy: Policy, roles: tuple[str, ...], change: ObjectChange, action: str) -> str:
    """What the author may do of this kind, so that they see how close they came."""
    said = [f"{name} may {describe(p)}" for name in roles for p in policy.roles[name].permissions
            if (change.policy_kind in p.kinds or PolicyKind.ALL in p.kinds)
            and action in p.actions]
    return "; ".join(said) if change.policy_kind != "policy" else ""


def _needs(change: ObjectChange) -> Iterator[tuple[str, FieldChange | None]]:
    if change.action == "rename":
        yield Action.REMOVE, None
        yield Action.ADD, None
    elif change.action == "change":
        for changed in change.fields:
            yield Action.CHANGE, changed
    else:
        yield change.action, None


def check_changes(policy: Policy, changes: list[ObjectChange], author: str,
                  teams: tuple[str, ...] = ()) -> tuple[tuple[str, ...], list[Violation]]:
    """The author's roles, and every change (field by field) that none of them allows."""
    roles = roles_of(policy, author, teams)
    violations: list[Violation] = []
    for change in changes:
        for action, changed in _needs(change):
            path = changed.path if changed else None
            allowed = allowed_for(policy, change, action, path)
            if not set(roles) & set(allowed):
                violations.append(Violation(change, action, changed, author, roles, allowed,
                                            _hint(policy, roles, change, action)))
                if change.action == "rename":
                    break  # one message for the rename
    return roles, violations


@dataclass
class CheckResult:
    base: str
    base_commit: str
    author: str
    roles: tuple[str, ...]
    changes: list[ObjectChange]
    violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def diagnostics(self) -> list[Diagnostic]:
        return sort_diagnostics(v.diagnostic() for v in self.violations)

    def summary(self) -> str:
        who = f"{self.author} ({_roles_text(self.roles)})"
        since = f"since {self.base} ({self.base_commit[:12]})"
        if self.ok:
            return f"allowed: {len(self.changes)} change(s) by {who} {since}"
        return (f"denied: {len(self.violations)} violation(s) in {len(self.changes)} "
                f"change(s) by {who} {since}")

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "base": self.base, "base_commit": self.base_commit,
                "author": self.author, "roles": list(self.roles), "notes": self.notes,
                "summary": self.summary(),
                "changes": [c.as_dict() for c in self.changes],
                "violations": [v.as_dict() for v in sorted(
                    self.violations, key=lambda v: v.diagnostic())]}


def policy_in_effect(old: Snapshot, new: Snapshot, base: str) -> tuple[Policy | None, list[str]]:
    """The base revision's policy; when there was none, the one being added (bootstrap)."""
    for snapshot, where in ((old, f"at {base}"), (new, "in the working tree")):
        if snapshot.policy_broken:
            raise HznctlError(f"policy.yaml {where} is invalid, so no change can be checked "
                              "against it; run `hznctl validate` to see why")
        if snapshot.policy is not None:
            notes = [] if snapshot is old else [
                f"no policy.yaml at {base}: checked against the policy being added"]
            return snapshot.policy, notes
    return None, [f"no policy.yaml at {base} or in the working tree: every change is allowed"]


def check_policy(root: Path, base: str, author: str, teams: tuple[str, ...] = (),
                 label: str | None = None) -> CheckResult:
    """Check the changes of the working tree since it left ``base`` against base's policy."""
    commit = resolve_revision(root, base)
    fork = merge_base(root, commit)
    shown = label or str(root)
    old, new, changes = changes_since(root, fork, shown)
    target = old if fork == commit else git_snapshot(root, commit, shown)
    policy, notes = policy_in_effect(target, new, base)
    if fork != commit:
        notes.append(f"changes counted from {fork[:12]}, where this branch left {base}")
    result = CheckResult(base, commit, author, (), changes, notes=notes)
    if policy is not None:
        result.roles, result.violations = check_changes(policy, changes, author, teams)
    return result
