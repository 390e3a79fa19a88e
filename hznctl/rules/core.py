"""The inventory's own consistency: unique names, references that resolve, environments.

Rules about an application's bindings and worker groups are in ``rules.applications``,
about where worker groups run in ``rules.placement``.
"""

from __future__ import annotations

from collections.abc import Iterator

from hznctl.diagnostics import Diagnostic
from hznctl.inventory import Inventory
from hznctl.models import Application
from hznctl.rules import application_rule, rule
from hznctl.rules.common import UnknownHints, names, nearest, project_environments


@rule("unique-names")
def unique_names(inventory: Inventory) -> Iterator[Diagnostic]:
    """Application display names are unique (slugs are, through their file names)."""
    first: dict[str, str] = {}
    for slug in sorted(inventory.applications):
        app = inventory.applications[slug]
        key = app.name.casefold()
        if key in first:
            yield inventory.diagnostic(
                "application", slug, ("name",),
                f"application name {app.name!r} is already taken by application "
                f"{first[key]!r}",
                code="unique-names", hint="give each application its own name",
            )
        else:
            first[key] = slug


class _Known:
    """The connections and hosts that exist, with hints for the names that do not."""

    def __init__(self, inventory: Inventory) -> None:
        self.connections = names(inventory, "connection")
        self.hosts = names(inventory, "host")
        self.connection_hint = UnknownHints(self.connections, "connections")
        self.host_hint = UnknownHints(self.hosts, "hosts")


@application_rule("references")
def references(inventory: Inventory, slug: str, app: Application) -> Iterator[Diagnostic]:
    """Every connection and host an application names exists."""
    known = inventory.derived("rules.known", _Known)
    for index, binding in enumerate(app.connections):
        if binding.connection not in known.connections:
            yield inventory.diagnostic(
                "application", slug, ("connections", index, "connection"),
                f"unknown connection {binding.connection!r}", code="references",
                hint=known.connection_hint(binding.connection),
            )
    for w_index, worker in enumerate(app.workers):
        for h_index, host in enumerate(worker.hosts):
            if host not in known.hosts:
                yield inventory.diagnostic(
                    "application", slug, ("workers", w_index, "hosts", h_index),
                    f"unknown host {host!r}", code="references",
                    hint=known.host_hint(host),
                )


@rule("notification-references")
def notification_references(inventory: Inventory) -> Iterator[Diagnostic]:
    connections = names(inventory, "connection")
    connection_hint = UnknownHints(connections, "connections")
    environments = project_environments(inventory)
    for name in sorted(inventory.notifications):
        channel = inventory.notifications[name]
        for index, connection in enumerate(channel.connections):
            if connection not in connections:
                yield inventory.diagnostic(
                    "notification", name, ("connections", index),
                    f"unknown connection {connection!r}", code="references",
                    hint=connection_hint(connection),
                )
        if environments is None:
            continue
        for index, environment in enumerate(channel.environments):
            if environment not in environments:
                yield _unknown_environment(inventory, "notification", name,
                                           ("environments", index), environment, environments)


def _unknown_environment(
    inventory: Inventory,
    kind: str,
    name: str,
    parts: tuple[str | int, ...],
    environment: str,
    environments: set[str],
) -> Diagnostic:
    return inventory.diagnostic(
        kind, name, parts,
        f"unknown environment {environment!r}; project.yaml declares "
        + ", ".join(sorted(environments)),
        code="environments",
        hint=nearest(environment, environments) or "add it to environments in project.yaml",
    )


@rule("environments-declared")
def environments_declared(inventory: Inventory) -> Iterator[Diagnostic]:
    """Every environment an object names is one that project.yaml declares."""
    environments = project_environments(inventory)
    if environments is None:
        return
    for kind in ("application", "connection", "host"):
        objects = inventory.objects(kind)
        for name in sorted(objects):
            obj = objects[name]
            if obj.environment not in environments:
                yield _unknown_environment(inventory, kind, name, ("environment",),
                                           obj.environment, environments)
            for index, other in enumerate(getattr(obj, "allow_environments", ())):
                if other not in environments:
                    yield _unknown_environment(inventory, kind, name,
                                               ("allow_environments", index), other,
                                               environments)


@application_rule("environments-agree")
def environments_agree(inventory: Inventory, slug: str, app: Application
                       ) -> Iterator[Diagnostic]:
    """An application uses connections and named hosts of its own environment only,
    unless it lists theirs in ``allow_environments``."""
    declared = inventory.project.environments if inventory.project is not None else None
    if declared is not None and app.environment not in declared:
        return  # already an unknown environment; every comparison would be noise
    allowed = {app.environment, *app.allow_environments}
    hint = (f"use one of the {app.environment} ones, or add it to the application's "
            "allow_environments")
    for index, binding in enumerate(app.connections):
        connection = inventory.connections.get(binding.connection)
        if connection is not None and connection.environment not in allowed:
            yield inventory.diagnostic(
                "application", slug, ("connections", index, "connection"),
                f"connection {binding.connection!r} is in environment "
                f"{connection.environment!r}, the application in {app.environment!r}",
                code="environments-agree", hint=hint)
    for w_index, worker in enumerate(app.workers):
        for h_index, name in enumerate(worker.hosts):
            host = inventory.hosts.get(name)
            if host is not None and host.environment not in allowed:
                yield inventory.diagnostic(
                    "application", slug, ("workers", w_index, "hosts", h_index),
                    f"host {name!r} is in environment {host.environment!r}, the "
                    f"application in {app.environment!r}",
                    code="environments-agree", hint=hint)
