"""Cross-object rules, registered by name; each yields diagnostics for an inventory.

A rule sees the whole typed inventory (only the objects whose files were valid) and
points each finding at a field through ``Inventory.diagnostic``. An application rule
(``application_rule``) is asked about one application at a time and may read, besides
it and its document, only its surroundings: where its worker groups are placed, the hosts
and connections it names or is placed on, the project, and which connection and host
names exist (valid or broken). That is what lets an inventory loaded beside another
(``inventory.reusing``: `plan --base`) take the other's findings for an application that
is the same object in the same surroundings.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence

from hznctl.diagnostics import Diagnostic
from hznctl.inventory import Inventory
from hznctl.models import Application
from hznctl.placement import worker_hosts
from hznctl.rules.common import names

Rule = Callable[[Inventory], Iterable[Diagnostic]]
ApplicationRule = Callable[[Inventory, str, Application], Iterable[Diagnostic]]

RULES: dict[str, Rule] = {}
APPLICATION_RULES: dict[str, ApplicationRule] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    """Register a rule under ``name`` (its diagnostics carry it as their code)."""

    def register(func: Rule) -> Rule:
        RULES[name] = func
        return func

    return register


def application_rule(name: str) -> Callable[[ApplicationRule], ApplicationRule]:
    """Register a rule about one application under ``name``: called with the inventory,
    the application's slug and the application, for every application. It reads only
    what the module's docstring allows and reports only about that application."""

    def register(func: ApplicationRule) -> ApplicationRule:
        APPLICATION_RULES[name] = func
        return func

    return register


def run_rules(inventory: Inventory) -> list[Diagnostic]:
    _load_rule_modules()
    found: list[Diagnostic] = []
    for func in RULES.values():
        found.extend(func(inventory))
    found.extend(_application_findings(inventory))
    return found


_FINDINGS = "rules.applications"


def _application_findings(inventory: Inventory) -> list[Diagnostic]:
    """Every application rule's findings on every application; of an application that the
    inventory it was loaded beside has too, as the same object in the same surroundings,
    what was found there (the same document: the same diagnostics)."""
    checks = list(APPLICATION_RULES.values())
    kept: dict[str, tuple[Diagnostic, ...]] = inventory.derived(_FINDINGS, lambda _: {})
    reuse = _earlier_findings(inventory)
    found: list[Diagnostic] = []
    for slug in sorted(inventory.applications):
        app = inventory.applications[slug]
        same = reuse(slug, app) if reuse is not None else None
        if same is None:
            same = tuple(d for check in checks for d in check(inventory, slug, app))
        kept[slug] = same
        found.extend(same)
    return found


def _earlier_findings(inventory: Inventory
                      ) -> Callable[[str, Application], tuple[Diagnostic, ...] | None] | None:
    """What the inventory this one was loaded beside found of an application, when the
    application is the same object there in the same surroundings (None: find it)."""
    earlier = inventory.earlier
    if earlier is None:
        return None
    previous = earlier.previous
    before: dict[str, tuple[Diagnostic, ...]] | None = previous.computed(_FINDINGS)
    if (before is None or previous.project is not inventory.project
            or previous.broken != inventory.broken
            or any(names(previous, kind) != names(inventory, kind)
                   for kind in ("connection", "host"))):
        return None
    placed, placed_before = worker_hosts(inventory), worker_hosts(previous)
    # The hosts and connections that are not the same objects in both (most often none).
    hosts = _changed(inventory.hosts, previous.hosts)
    connections = _changed(inventory.connections, previous.connections)

    def findings(slug: str, app: Application) -> tuple[Diagnostic, ...] | None:
        key = ("application", slug)
        where = placed[slug]
        if (previous.applications.get(slug) is not app
                or previous.documents.get(key) is not inventory.documents.get(key)
                or placed_before.get(slug) != where):
            return None
        if hosts and not (hosts.isdisjoint(_hosts_read(app, where))
                          and hosts.isdisjoint(_hosts_read(app, placed_before[slug]))):
            return None
        if connections and not connections.isdisjoint(_connections_read(app)):
            return None
        return before.get(slug)

    return findings


def _changed(now: Mapping[str, object], then: Mapping[str, object]) -> set[str]:
    return {name for name in now.keys() | then.keys() if now.get(name) is not then.get(name)}


def _hosts_read(app: Application, placed: Sequence[Sequence[str]]) -> Iterable[str]:
    for worker in app.workers:
        yield from worker.hosts
    for hosts in placed:
        yield from hosts


def _connections_read(app: Application) -> Iterable[str]:
    for binding in app.connections:
        yield binding.connection
    for worker in app.workers:
        if worker.connection is not None:
            yield worker.connection


# Modules under hznctl.rules whose @rule registrations validate runs; add one name per module.
RULE_MODULES = ("core", "applications", "placement", "secrets", "rendering", "policy",
                "trust", "kubernetes")


def _load_rule_modules() -> None:
    for module in RULE_MODULES:
        importlib.import_module(f"hznctl.rules.{module}")
