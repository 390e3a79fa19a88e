"""The policy's own consistency: roles that exist, narrowing that means something.

Only admin may hold a permission over the policy, so that nobody but an admin can grant
roles; the check (``hznctl.policy.check``) enforces the same on every change.
"""

from __future__ import annotations

from collections.abc import Iterator

from hznctl.diagnostics import Diagnostic, Severity
from hznctl.inventory import Inventory
from hznctl.models.policy import Action, Permission, Policy, PolicyKind
from hznctl.rules import rule
from hznctl.rules.common import names, project_environments, unknown_hint

ADMIN = "admin"
_POLICY = ("policy", "policy")


def _policy(inventory: Inventory) -> Policy | None:
    found = inventory.objects("policy").get("policy")
    return found if isinstance(found, Policy) else None


@rule("policy-roles")
def policy_roles(inventory: Inventory) -> Iterator[Diagnostic]:
    """An admin role exists, and every member's role is defined."""
    policy = _policy(inventory)
    if policy is None:
        return
    if ADMIN not in policy.roles:
        yield inventory.diagnostic(*_POLICY, ("roles",), "there is no admin role; it alone "
                                   "may change the policy", code="policy-roles",
                                   hint="add roles: {admin: {permissions: [{kinds: ['*']}]}}")
    for member, roles in policy.members.items():
        for index, role in enumerate(roles):
            if role not in policy.roles:
                yield inventory.diagnostic(
                    *_POLICY, ("members", member, index), f"unknown role {role!r}",
                    code="policy-roles", hint=unknown_hint(role, policy.roles, "roles"))


@rule("policy-permissions")
def policy_permissions(inventory: Inventory) -> Iterator[Diagnostic]:
    """Narrowing that can match: known environments and applications, fields on change."""
    policy = _policy(inventory)
    if policy is None:
        return
    applications = names(inventory, "application")  # once, not once per permission
    for role, spec in policy.roles.items():
        for index, permission in enumerate(spec.permissions):
            yield from _permission(inventory, role, index, permission, applications)


def _permission(inventory: Inventory, role: str, index: int, permission: Permission,
                applications: set[str]) -> Iterator[Diagnostic]:
    at = ("roles", role, "permissions", index)
    kinds = set(permission.kinds)
    if role != ADMIN and kinds & {PolicyKind.POLICY, PolicyKind.ALL}:
        covered = "'*' covers the policy" if PolicyKind.ALL in kinds else "the policy"
        yield inventory.diagnostic(*_POLICY, (*at, "kinds"), f"only the admin role may change "
                                   f"the policy ({covered})", code="policy-permissions",
                                   hint="list the kinds this role may change, without policy")
    if permission.fields and set(permission.actions) != {Action.CHANGE}:
        yield inventory.diagnostic(*_POLICY, (*at, "fields"), "fields narrow only the change "
                                   "action; adding or removing an object has no fields",
                                   code="policy-permissions", hint="set actions: [change]")
    if permission.applications and kinds != {PolicyKind.APPLICATIONS}:
        yield inventory.diagnostic(*_POLICY, (*at, "applications"), "applications narrow "
                                   "only the kind applications", code="policy-permissions",
                                   hint="set kinds: [applications], or add a permission "
                                   "for the other kinds")
    yield from _references(inventory, at, permission, applications)


def _references(inventory: Inventory, at: tuple[str | int, ...], permission: Permission,
                applications: set[str]) -> Iterator[Diagnostic]:
    environments = project_environments(inventory)
    for index, environment in enumerate(permission.environments):
        if environments is not None and environment not in environments:
            yield inventory.diagnostic(
                *_POLICY, (*at, "environments", index), f"unknown environment {environment!r}",
                code="policy-permissions",
                hint=unknown_hint(environment, environments, "environments"))
    for index, slug in enumerate(permission.applications):
        if slug not in applications:
            # A warning: the policy may name an application before its file is added.
            yield inventory.diagnostic(
                *_POLICY, (*at, "applications", index), f"unknown application {slug!r}",
                severity=Severity.WARNING, code="policy-permissions",
                hint=unknown_hint(slug, applications, "applications"))
