"""An application's bindings and worker groups: one primary, bound connections, sane limits."""

from __future__ import annotations

import functools
from collections.abc import Iterator

from hznctl.diagnostics import Diagnostic, Severity
from hznctl.inventory import Inventory
from hznctl.models import SCALING_RUNTIMES, Application, Balance, Runtime, WorkerGroup
from hznctl.rules import application_rule
from hznctl.rules.common import names, nearest, origin
from hznctl.rules.kubernetes import only_on_clusters

# Runtimes whose backend hands a reserved job to another worker after retry-after seconds.
RETRYING_RUNTIMES = frozenset({Runtime.LARAVEL_HORIZON, Runtime.LARAVEL_QUEUE, Runtime.CELERY})
# Seconds a timeout stays below retry-after: the worker needs time to kill the job and
# release it before the backend hands it out again (Laravel's docs: "several seconds").
RETRY_AFTER_MARGIN = 5


@application_rule("bindings")
def bindings(inventory: Inventory, slug: str, app: Application) -> Iterator[Diagnostic]:
    """Each connection is bound once, and exactly one active binding is primary."""
    for index in _repeated([b.connection for b in app.connections]):
        yield inventory.diagnostic(
            "application", slug, ("connections", index, "connection"),
            f"connection {app.connections[index].connection!r} is bound twice",
            code="bindings", hint="remove one of the two bindings")
    yield from _one_primary(inventory, slug, app)


def _repeated(names: list[str]) -> Iterator[int]:
    """The positions of the names that come earlier in ``names`` too."""
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            yield index
        seen.add(name)


def _one_primary(inventory: Inventory, slug: str, app: Application) -> Iterator[Diagnostic]:
    primaries = [i for i, b in enumerate(app.connections) if b.active and b.primary]
    if not primaries:
        active = [b.connection for b in app.connections if b.active]
        hint = (f"mark one binding primary: true (e.g. {active[0]!r})" if active
                else "activate a binding and mark it primary: true")
        yield inventory.diagnostic(
            "application", slug, ("connections",),
            "no active connection binding is primary; exactly one must be",
            code="bindings", hint=hint)
        return
    first = app.connections[primaries[0]].connection
    for index in primaries[1:]:
        yield inventory.diagnostic(
            "application", slug, ("connections", index, "primary"),
            f"{len(primaries)} active bindings are primary; exactly one may be (the first is "
            f"{first!r})", code="bindings", hint="set primary: false on all but one")


class _Existing:
    """The connections that exist, and the nearest of them to a name (difflib against
    every connection: once per name)."""

    def __init__(self, inventory: Inventory) -> None:
        self.names = names(inventory, "connection")
        self.nearest = functools.cache(lambda name: nearest(name, self.names))


@application_rule("worker-connections")
def worker_connections(inventory: Inventory, slug: str, app: Application
                       ) -> Iterator[Diagnostic]:
    """A worker group consumes from a connection its application binds, actively."""
    bound = {b.connection: b for b in app.connections}
    for index, worker in enumerate(app.workers):
        if worker.connection is None:
            continue  # the primary, whose absence the bindings rule reports
        parts = ("workers", index, "connection")
        binding = bound.get(worker.connection)
        if binding is None:
            existing = inventory.derived("rules.connections", _Existing)
            known = worker.connection in existing.names
            hint = "" if known else (nearest(worker.connection, bound)
                                     or existing.nearest(worker.connection))
            yield inventory.diagnostic(
                "application", slug, parts,
                f"connection {worker.connection!r} is not bound to the application"
                + ("" if known else " (and no such connection exists)"),
                code="worker-connections",
                hint=hint or f"add {{connection: {worker.connection}}} under connections:, "
                "or use one of: " + ", ".join(sorted(bound)))
        elif not binding.active and worker.active and app.active:
            yield inventory.diagnostic(
                "application", slug, parts,
                f"the binding of connection {worker.connection!r} is inactive",
                code="worker-connections",
                hint="activate the binding or deactivate the worker group")


@application_rule("inactive-connections")
def inactive_connections(inventory: Inventory, slug: str, app: Application
                         ) -> Iterator[Diagnostic]:
    """An active worker group does not consume from an inactive connection."""
    if not app.active:
        return
    for index, worker in enumerate(app.workers):
        name = app.worker_connection(worker)
        connection = inventory.connections.get(name) if name else None
        if worker.active and connection is not None and not connection.active:
            parts = ("workers", index, "connection") if worker.connection else (
                "workers", index)
            yield inventory.diagnostic(
                "application", slug, parts,
                f"worker group {worker.name!r} uses connection {name!r}, which is "
                "inactive", code="inactive-connections",
                hint="activate the connection or deactivate the worker group")


@application_rule("worker-names")
def worker_names(inventory: Inventory, slug: str, app: Application) -> Iterator[Diagnostic]:
    for index in _repeated([w.name for w in app.workers]):
        yield inventory.diagnostic(
            "application", slug, ("workers", index, "name"),
            f"worker group name {app.workers[index].name!r} is used twice in the "
            "application", code="worker-names", hint="give each worker group its own name")


@application_rule("worker-limits")
def worker_limits(inventory: Inventory, slug: str, app: Application) -> Iterator[Diagnostic]:
    """Processes, balance, timeouts and stop grace that the runtime can honour."""
    for index, worker in enumerate(app.workers):
        yield from _processes(inventory, slug, app, index, worker)
        yield from _timeouts(inventory, slug, app, index, worker)


def _processes(
    inventory: Inventory, slug: str, app: Application, index: int, worker: WorkerGroup
) -> Iterator[Diagnostic]:
    if worker.min_processes > worker.max_processes:
        yield inventory.diagnostic(
            "application", slug, ("workers", index, "min_processes"),
            f"min_processes ({worker.min_processes}) is above max_processes "
            f"({worker.max_processes})", code="worker-limits",
            hint=f"set min_processes to {worker.max_processes} or less")
    if app.runtime is Runtime.LARAVEL_HORIZON and worker.min_processes < 1 \
            and worker.max_processes > 0:
        # Horizon's ProvisioningPlan::convert throws for minProcesses < 1.
        yield inventory.diagnostic(
            "application", slug, ("workers", index, "min_processes"),
            f"min_processes {worker.min_processes}"
            + origin(inventory, "application", slug, ("workers", index, "min_processes"))
            + " is below 1: Horizon refuses to start a supervisor with fewer",
            code="worker-limits", hint="set min_processes to 1 or more")
    if (worker.balance is Balance.AUTO and app.runtime not in SCALING_RUNTIMES
            and not only_on_clusters(inventory, slug, index)):  # KEDA scales the pods
        yield inventory.diagnostic(
            "application", slug, ("workers", index, "balance"),
            "balance 'auto'"
            + origin(inventory, "application", slug, ("workers", index, "balance"))
            + " needs a runtime that scales its processes (laravel-horizon, celery); "
            f"{app.runtime.value} does not",
            code="worker-limits",
            hint="use balance: simple (a fixed max_processes), or switch the runtime")


def _timeouts(
    inventory: Inventory, slug: str, app: Application, index: int, worker: WorkerGroup
) -> Iterator[Diagnostic]:
    retry_after = app.effective_retry_after
    if app.runtime in RETRYING_RUNTIMES and retry_after is not None and (
        worker.timeout == 0 or worker.timeout > retry_after - RETRY_AFTER_MARGIN
    ):
        shown = "0 (no limit)" if worker.timeout == 0 else str(worker.timeout)
        shown += origin(inventory, "application", slug, ("workers", index, "timeout"))
        suggestion = max(1, retry_after - 10)
        yield inventory.diagnostic(
            "application", slug, ("workers", index, "timeout"),
            f"timeout {shown} is not at least {RETRY_AFTER_MARGIN} seconds below the "
            f"runtime's retry-after of {retry_after} seconds: a job still running would be "
            "handed to a second worker",
            code="worker-limits",
            hint=f"set timeout to {suggestion} or less, or raise the application's retry_after")
    if worker.stopwaitsecs is not None and worker.stopwaitsecs < worker.timeout:
        yield inventory.diagnostic(
            "application", slug, ("workers", index, "stopwaitsecs"),
            f"stopwaitsecs ({worker.stopwaitsecs}) is below timeout ({worker.timeout}): a stop "
            "would kill a job that is still allowed to run", code="worker-limits",
            hint=f"set stopwaitsecs to {worker.timeout} or more, or leave it out "
            "(timeout plus the project's stop_margin)")


@application_rule("runtime-settings")
def runtime_settings(inventory: Inventory, slug: str, app: Application
                     ) -> Iterator[Diagnostic]:
    """Fields a runtime needs (command, app_module) are there; fields it ignores are not."""
    if app.runtime is Runtime.CELERY and app.app_module is None:
        yield inventory.diagnostic(
            "application", slug, ("app_module",),
            "the celery runtime needs app_module (the Celery application, celery -A)",
            at=("runtime",), code="runtime-settings", hint="e.g. app_module: myapp.worker")
    if app.runtime is Runtime.COMMAND:
        yield from _command_runtime(inventory, slug, app)
        return
    if app.command is not None:
        yield _command_not_used(inventory, slug, app, ("command",))
    for index, worker in enumerate(app.workers):
        if worker.command is not None:
            yield _command_not_used(inventory, slug, app, ("workers", index, "command"))


def _command_runtime(inventory: Inventory, slug: str, app: Application) -> Iterator[Diagnostic]:
    if app.command is not None:
        return
    if not app.workers:
        yield inventory.diagnostic(
            "application", slug, ("command",),
            "the command runtime needs a command", at=("runtime",), code="runtime-settings",
            hint="set command on the application or on each worker group")
    for index, worker in enumerate(app.workers):
        if worker.command is None:
            yield inventory.diagnostic(
                "application", slug, ("workers", index, "command"),
                "the command runtime needs a command: the application sets none and neither "
                "does this worker group", at=("workers", index, "name"),
                code="runtime-settings",
                hint="set command on the application or on this worker group")


def _command_not_used(
    inventory: Inventory, slug: str, app: Application, parts: tuple[str | int, ...]
) -> Diagnostic:
    return inventory.diagnostic(
        "application", slug, parts,
        f"command is only for the command runtime; {app.runtime.value} builds its own",
        key=True, code="runtime-settings",
        hint="remove it, or set runtime: command")


class _IgnoredFields:
    """Per runtime, the worker-group fields it ignores (in WORKER_FIELDS' order), and
    their defaults."""

    def __init__(self, _: Inventory) -> None:
        from hznctl.runtimes import WORKER_FIELDS

        self.defaults = {name: WorkerGroup.model_fields[name].get_default(
            call_default_factory=True) for name in WORKER_FIELDS}
        self._ignored: dict[Runtime, tuple[str, ...]] = {}

    def of(self, runtime: Runtime) -> tuple[str, ...]:
        from hznctl.runtimes import WORKER_FIELDS, runtime_spec

        found = self._ignored.get(runtime)
        if found is None:
            spec = runtime_spec(runtime)
            found = self._ignored[runtime] = tuple(n for n in WORKER_FIELDS if spec.ignores(n))
        return found


@application_rule("runtime-fields")
def runtime_fields(inventory: Inventory, slug: str, app: Application) -> Iterator[Diagnostic]:
    """A worker-group field the application's runtime ignores is not set (a warning)."""
    table = inventory.derived("rules.ignored-fields", _IgnoredFields)
    fields = table.of(app.runtime)
    if not fields:
        return
    for index, worker in enumerate(app.workers):
        given = worker.model_fields_set
        for name in fields:
            if name not in given:
                continue
            value = getattr(worker, name)
            if value == table.defaults[name] or value is Balance.AUTO:
                continue  # balance auto where it cannot scale is an error already
            parts = ("workers", index, name)
            if not origin(inventory, "application", slug, parts):
                # A project default is for every group, not a claim about this one.
                yield inventory.diagnostic(
                    "application", slug, parts,
                    f"{name} is ignored by the {app.runtime.value} runtime: its workers "
                    "would not behave as it says", severity=Severity.WARNING, key=True,
                    code="runtime-fields",
                    hint="remove it; the runtime table in the README says what each "
                    "runtime does with each field")


# Runtimes whose Redis client (redis-py) checks the certificate against the host it
# connects to and has no setting for another name.
_NO_SERVER_NAME = frozenset({Runtime.RQ, Runtime.CELERY})


@application_rule("tls-server-name")
def tls_server_name(inventory: Inventory, slug: str, app: Application) -> Iterator[Diagnostic]:
    """A connection's tls.server_name reaches Laravel (peer_name) and REDIS_SERVER_NAME, but
    not rq's or Celery's client: warn where such a group uses one."""
    if app.runtime not in _NO_SERVER_NAME:
        return
    for index, worker in enumerate(app.workers):
        name = app.worker_connection(worker)
        connection = inventory.connections.get(name) if name else None
        if connection is None or not connection.tls.enabled \
                or connection.tls.server_name is None:
            continue
        yield inventory.diagnostic(
            "application", slug, ("workers", index),
            f"connection {name!r} sets tls.server_name, which the {app.runtime.value} "
            f"runtime's client (redis-py) does not use: it checks the certificate "
            f"against host {connection.host!r}", severity=Severity.WARNING,
            code="tls-server-name", at=("workers", index, "name"),
            hint="connect by a name the certificate holds (host), or drop server_name")


@application_rule("schedulers")
def schedulers(inventory: Inventory, slug: str, app: Application) -> Iterator[Diagnostic]:
    """A scheduler group is one process of a runtime that has a scheduler, on one host."""
    from hznctl.placement import worker_hosts
    from hznctl.runtimes import runtime_spec

    for index, worker in enumerate(app.workers):
        if worker.kind != "scheduler":
            if worker.schedule is not None:
                yield inventory.diagnostic(
                    "application", slug, ("workers", index, "schedule"),
                    "schedule is for an rq scheduler (kind: scheduler)", key=True,
                    code="schedulers", hint="remove it, or set kind: scheduler")
            continue
        where = ("workers", index, "kind")
        if runtime_spec(app.runtime).scheduler is None:
            yield inventory.diagnostic(
                "application", slug, where,
                f"the {app.runtime.value} runtime has no scheduler", code="schedulers",
                hint="run your scheduler as a worker group of its own command")
            continue
        if app.runtime is Runtime.RQ and worker.schedule is None:
            yield inventory.diagnostic(
                "application", slug, where,
                "an rq scheduler needs schedule: the module with its cron jobs (rq cron)",
                code="schedulers", hint="e.g. schedule: myapp.cron")
        if worker.max_processes > 1:
            yield inventory.diagnostic(
                "application", slug, ("workers", index, "max_processes"),
                f"a scheduler runs one process, not {worker.max_processes}: more would "
                "run each scheduled task more than once", code="schedulers",
                hint="set max_processes to 1")
        # Where placement puts it (inactive groups and applications: nowhere).
        hosts = worker_hosts(inventory)[slug][index]
        if len(hosts) > 1:
            yield inventory.diagnostic(
                "application", slug, where,
                f"the scheduler runs on {len(hosts)} hosts ({', '.join(hosts)}): each "
                "would run every scheduled task", severity=Severity.WARNING,
                code="schedulers", hint="place it on one host (hosts: [one])")
