"""What to probe: every selected connection with its decrypted password, queues and thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from hznctl.health.keyschemes import (
    QueueKey,
    QueueScheme,
    horizon_default_prefix,
    queue_keys,
    queue_scheme,
)
from hznctl.inventory import Inventory
from hznctl.models import HealthThresholds, RedisConnection
from hznctl.models.common import defined
from hznctl.redact import redact
from hznctl.secrets.decrypt import Identities, decrypt_value
from hznctl.secrets.errors import SecretError


@dataclass(frozen=True)
class QueueSpec:
    """One queue of an application on a connection, with the keys that hold it."""

    application: str
    runtime: str
    queue: str
    worker_groups: tuple[str, ...]
    keys: tuple[QueueKey, ...]
    scheme: QueueScheme


@dataclass(frozen=True)
class ProbeTarget:
    connection: RedisConnection
    thresholds: HealthThresholds
    applications: tuple[str, ...]
    queues: tuple[QueueSpec, ...]
    password: str | None = field(default=None, repr=False)
    credential_error: str | None = None
    root: Path = Path(".")

    @property
    def name(self) -> str:
        return self.connection.name

    @property
    def endpoint(self) -> str:
        c = self.connection
        return f"{c.host}:{c.port}/{c.database}"


def thresholds_for(inventory: Inventory, connection: RedisConnection) -> HealthThresholds:
    """Project thresholds with the connection's own overrides on top."""
    base = inventory.project.health.thresholds if inventory.project else HealthThresholds()
    overrides = defined(connection.health)
    if not overrides:
        return base
    return HealthThresholds.model_validate({**base.model_dump(), **overrides})


def queues_by_connection(inventory: Inventory) -> dict[str, list[QueueSpec]]:
    """Every queue of every active worker group, on the connection that group consumes."""
    found: dict[tuple[str, str, str], list[str]] = {}
    runtimes: dict[str, tuple[str, str]] = {}
    for slug in sorted(inventory.applications):
        app = inventory.applications[slug]
        if not app.active:
            continue
        runtimes[slug] = (app.runtime.value, app.key_prefix)
        for worker in app.workers:
            connection = app.worker_connection(worker)
            if not worker.active or connection is None:
                continue
            for queue in worker.queues:
                found.setdefault((connection, slug, queue), []).append(worker.name)
    result: dict[str, list[QueueSpec]] = {}
    for (connection, slug, queue), groups in sorted(found.items()):
        app = inventory.applications[slug]
        result.setdefault(connection, []).append(QueueSpec(
            slug, runtimes[slug][0], queue, tuple(groups),
            queue_keys(app.runtime, queue, app.key_prefix),
            queue_scheme(app.runtime, queue, app.key_prefix,
                         app.horizon_prefix or horizon_default_prefix(app.name))))
    return result


def applications_by_connection(inventory: Inventory) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for slug in sorted(inventory.applications):
        app = inventory.applications[slug]
        if app.active:
            for binding in app.connections:
                if binding.active:
                    result.setdefault(binding.connection, []).append(slug)
    return result


def select_connections(inventory: Inventory, *, environments: Sequence[str] = (),
                       names: Sequence[str] = ()) -> list[RedisConnection]:
    """Active connections, filtered by environment and name (empty filters: all)."""
    chosen = []
    for name in sorted(inventory.connections):
        connection = inventory.connections[name]
        if not connection.active:
            continue
        if environments and connection.environment not in environments:
            continue
        if names and name not in names:
            continue
        chosen.append(connection)
    return chosen


def build_targets(inventory: Inventory, connections: list[RedisConnection]) -> list[ProbeTarget]:
    """Targets with their queues and thresholds; passwords are decrypted later
    (``with_credentials``), in the process that probes them."""
    queues = queues_by_connection(inventory)
    apps = applications_by_connection(inventory)
    return [ProbeTarget(connection, thresholds_for(inventory, connection),
                        tuple(apps.get(connection.name, [])),
                        tuple(queues.get(connection.name, [])), root=inventory.root)
            for connection in connections]


@dataclass(frozen=True)
class Credentials:
    """The runner's identities, or why there are none (then passwords are not readable)."""

    identities: Identities | None
    problem: str | None = None


def with_credentials(targets: list[ProbeTarget], credentials: Credentials) -> list[ProbeTarget]:
    """Decrypt each target's password in-process; a failure marks only that connection."""
    return [_with_password(t, credentials) for t in targets]


def _with_password(target: ProbeTarget, credentials: Credentials) -> ProbeTarget:
    ref = target.connection.password
    if ref is None or target.password is not None or target.credential_error is not None:
        return target
    if credentials.identities is None:
        problem = credentials.problem or "no age identity to decrypt the password with"
        return replace(target, credential_error=problem)
    try:
        password = decrypt_value(target.root / ref.sops, ref.key, credentials.identities)
    except SecretError as exc:
        return replace(target, credential_error=redact(str(exc)))
    return replace(target, password=password)
