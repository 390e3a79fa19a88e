"""One health run end to end: load, decrypt, probe, grade, compare, notify, report.

The CLI calls ``run_health`` with typed options and formats the ``HealthRun`` it returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hznctl.errors import HznctlError, InventoryError, UsageError, no_inventory
from hznctl.health.history import (
    History,
    append_run,
    load_history,
    run_record,
    transitions,
    with_previous,
)
from hznctl.health.model import RANK, HealthReport, Status, count_statuses, worst
from hznctl.health.reports import write_reports
from hznctl.health.runner import OnResult, RunSettings, run_probes
from hznctl.health.targets import Credentials, build_targets, select_connections
from hznctl.inventory import Inventory, load_inventory
from hznctl.models import RedisConnection
from hznctl.redact import redact
from hznctl.secrets.decrypt import default_identity_paths, load_identities
from hznctl.secrets.errors import SecretError

FAIL_ON = {"warning": Status.WARNING, "critical": Status.CRITICAL, "down": Status.DOWN}


@dataclass(frozen=True)
class HealthOptions:
    inventory: Path
    out: Path
    environments: Sequence[str] = ()
    connections: Sequence[str] = ()
    deadline: float | None = None
    history: Path | None = None
    identity: Path | None = None
    notify: bool = True
    # time.monotonic() when the command started: the deadline bounds the whole run, loading
    # and decrypting included, not only the probes.
    started: float | None = None


@dataclass
class HealthRun:
    report: HealthReport
    written: list[Path] = field(default_factory=list)

    def failed(self, fail_on: str) -> bool:
        """Whether the run should exit 1: anything at or above ``fail_on`` (never: no)."""
        if fail_on == "never":
            return False
        threshold = RANK[FAIL_ON[fail_on]]
        return any(RANK[c.status] >= threshold and c.status is not Status.OK
                   for c in self.report.connections)


def load_for_health(root: Path) -> Inventory:
    if not root.is_dir():
        raise no_inventory(str(root))
    loaded = load_inventory(root)
    if not loaded.ok:
        raise InventoryError("the inventory does not load: run `hznctl validate` "
                             f"({sum(d.is_error for d in loaded.diagnostics)} error(s))",
                             list[object](loaded.diagnostics))
    return loaded.inventory


def runner_credentials(identity: Path | None) -> Credentials:
    """The runner's age identities; an explicit --identity that fails is a hard error."""
    if identity is not None:
        return Credentials(load_identities([identity]))
    try:
        return Credentials(load_identities(default_identity_paths()))
    except SecretError as exc:
        return Credentials(None, redact(str(exc)))


def run_health(options: HealthOptions, on_result: OnResult | None = None,
               on_start: Callable[[int], None] | None = None) -> HealthRun:
    inventory = load_for_health(options.inventory)
    project = inventory.project
    assert project is not None
    chosen = _select(inventory, options)
    credentials = runner_credentials(options.identity)
    deadline = options.deadline or project.health.deadline
    settings = RunSettings(deadline, min(project.health.check_timeout, deadline),
                           project.health.concurrency,
                           deadline_at=(options.started or time.monotonic()) + deadline)
    loaded = load_history(options.history) if options.history else History([])
    history = loaded.runs
    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    clock = time.perf_counter()
    targets = build_targets(inventory, chosen)
    if on_start is not None:
        on_start(len(targets))
    results = run_probes(targets, settings, on_result, credentials=credentials)
    previous = history[-1] if history else None
    results = with_previous(results, previous)
    report = HealthReport(
        inventory=str(options.inventory), started_at=started_at,
        duration_seconds=round(time.perf_counter() - clock, 3), deadline_seconds=deadline,
        status=worst([r.status for r in results]), counts=count_statuses(results),
        connections=results,
        transitions=transitions(results, previous, have_history=options.history is not None),
        history=str(options.history) if options.history else None,
        history_problem=loaded.problem)
    if options.notify and report.transitions:
        from hznctl.health.notify import notify  # urllib and threads: only when needed

        sent = notify(list(inventory.notifications.values()), report, inventory.root,
                      credentials.identities)
        report = report.model_copy(update={"notifications": sent})
    written = write_reports(options.out, report, [*history, run_record(report)])
    if options.history is not None:
        append_run(options.history, report, trusted=loaded.problem is None)
    return HealthRun(report, written)


def _select(inventory: Inventory, options: HealthOptions) -> list[RedisConnection]:
    unknown_env = sorted(set(options.environments) - set(inventory.project.environments
                                                         if inventory.project else []))
    if unknown_env:
        raise UsageError(f"unknown environment(s): {', '.join(unknown_env)}")
    unknown = sorted(set(options.connections) - set(inventory.connections))
    if unknown:
        raise UsageError(f"unknown connection(s): {', '.join(unknown)}")
    chosen = select_connections(inventory, environments=options.environments,
                                names=options.connections)
    if not chosen:
        raise HznctlError("no active connection matches the filters")
    return chosen
