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
    RunRecord,
    append_run,
    load_history,
    run_record,
    transitions,
    with_previous,
)
from hznctl.health.model import RANK, ConnectionHealth, HealthReport, Status, count_statuses, worst
from hznctl.health.reports import write_reports
from hznctl.health.runner import OnResult, RunSettings, run_probes
from hznctl.health.targets import Credentials, build_targets, select_connections
from hznctl.health.trends import with_trends
from hznctl.inventory import Inventory, load_inventory
from hznctl.models import HealthThresholds, RedisConnection
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


def settings_for(inventory: Inventory, deadline: float | None,
                 started: float | None = None) -> RunSettings:
    project = inventory.project
    assert project is not None
    deadline = deadline or project.health.deadline
    return RunSettings(deadline, min(project.health.check_timeout, deadline),
                       project.health.concurrency,
                       deadline_at=(started or time.monotonic()) + deadline)


def run_health(options: HealthOptions, on_result: OnResult | None = None,
               on_start: Callable[[int], None] | None = None) -> HealthRun:
    inventory = load_for_health(options.inventory)
    project = inventory.project
    assert project is not None
    chosen = choose_connections(inventory, options)
    credentials = runner_credentials(options.identity)
    settings = settings_for(inventory, options.deadline, options.started)
    deadline = settings.deadline
    loaded = load_history(options.history) if options.history else History([])
    history = loaded.runs
    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    clock = time.perf_counter()
    targets = build_targets(inventory, chosen)
    if on_start is not None:
        on_start(len(targets))
    results = run_probes(targets, settings, on_result, credentials=credentials)
    report = assemble(
        results, history[-1] if history else None, inventory=str(options.inventory),
        started_at=started_at, duration=time.perf_counter() - clock, deadline=deadline,
        thresholds={t.name: t.thresholds for t in targets},
        history=str(options.history) if options.history else None,
        history_problem=loaded.problem)
    if options.notify and report.transitions:
        report = send_notifications(inventory, report, credentials)
    written = write_reports(options.out, report, [*history, run_record(report)])
    if options.history is not None:
        append_run(options.history, report, trusted=loaded.problem is None)
    return HealthRun(report, written)


def assemble(results: list[ConnectionHealth], previous: RunRecord | None, *, inventory: str,
             started_at: str, duration: float, deadline: float,
             thresholds: dict[str, HealthThresholds], history: str | None,
             history_problem: str | None = None) -> HealthReport:
    """The report of one round: trends and transitions against the previous run (when a
    history is kept: ``history`` names it)."""
    results = with_trends(with_previous(results, previous), previous, started_at, thresholds)
    return HealthReport(
        inventory=inventory, started_at=started_at, duration_seconds=round(duration, 3),
        deadline_seconds=deadline, status=worst([r.status for r in results]),
        counts=count_statuses(results), connections=results,
        transitions=transitions(results, previous, have_history=history is not None),
        history=history, history_problem=history_problem)


def send_notifications(inventory: Inventory, report: HealthReport,
                       credentials: Credentials) -> HealthReport:
    from hznctl.health.notify import notify  # urllib and threads: only when needed

    sent = notify(list(inventory.notifications.values()), report, inventory.root,
                  credentials.identities)
    return report.model_copy(update={"notifications": sent})


def choose_connections(inventory: Inventory, options: HealthOptions) -> list[RedisConnection]:
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
