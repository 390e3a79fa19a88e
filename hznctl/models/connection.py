"""A Redis connection: where a Redis server is, how to reach it and when it is healthy."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from hznctl.models.common import (
    AbsolutePath,
    LongText,
    Model,
    ShortText,
    SingleLine,
    Slug,
    partial_model,
)
from hznctl.models.secret import SecretRef

Hostname = Annotated[
    str,
    Field(
        pattern=r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$",
        max_length=253,
    ),
]
Percent = Annotated[float, Field(ge=0, le=100)]


class HealthThresholds(Model):
    """When a probe's measurement turns a connection warning or critical."""

    latency_warning_ms: Annotated[float, Field(gt=0)] = 50.0
    latency_critical_ms: Annotated[float, Field(gt=0)] = 250.0
    memory_warning_percent: Percent = 80.0
    memory_critical_percent: Percent = 95.0
    clients_warning_percent: Percent = 80.0
    clients_critical_percent: Percent = 95.0
    backlog_warning: Annotated[int, Field(ge=0)] = 1000
    backlog_critical: Annotated[int, Field(ge=0)] = 10000
    rejected_connections_warning: Annotated[int, Field(ge=0)] = 1
    evicted_keys_warning: Annotated[int, Field(ge=0)] = 1
    wait_warning_s: Annotated[float, Field(gt=0)] = Field(
        default=60.0, description="A queue whose oldest job (or Horizon's estimate) has "
        "waited this long is a warning, like Horizon's `waits`.")
    wait_critical_s: Annotated[float, Field(gt=0)] = 600.0
    failed_growth_warning: Annotated[int, Field(ge=0)] = Field(
        default=1, description="New failed jobs in a queue since the previous run that make a "
        "warning; 0: never.")
    failed_growth_critical: Annotated[int, Field(ge=0)] = Field(
        default=0, description="New failed jobs since the previous run that make it critical; "
        "0: never.")
    no_workers: Literal["off", "warning", "critical"] = Field(
        default="warning", description="Status of a queue with waiting jobs and no worker "
        "registered (RQ workers, Horizon supervisors).")

    @model_validator(mode="after")
    def _ordered(self) -> HealthThresholds:
        for name in ("latency", "memory", "clients", "backlog", "wait"):
            suffix = {"latency": "_ms", "backlog": "", "wait": "_s"}.get(name, "_percent")
            warning = getattr(self, f"{name}_warning{suffix}")
            critical = getattr(self, f"{name}_critical{suffix}")
            if warning > critical:
                raise ValueError(
                    f"{name}_warning{suffix} ({warning}) is above {name}_critical{suffix} "
                    f"({critical})"
                )
        if 0 < self.failed_growth_critical < self.failed_growth_warning:
            raise ValueError(f"failed_growth_warning ({self.failed_growth_warning}) is above "
                             f"failed_growth_critical ({self.failed_growth_critical})")
        return self


HealthThresholdOverrides = partial_model(
    HealthThresholds,
    "HealthThresholdOverrides",
    exclude=set(),
    doc="Per-connection thresholds; unset ones come from the project's health thresholds.",
)


class ConnectionOptions(Model):
    """Client timeouts used by workers' wrappers and by the health runner."""

    connect_timeout: Annotated[float, Field(gt=0, le=60)] = 2.0
    read_timeout: Annotated[float, Field(gt=0, le=300)] = 2.0


class TlsSettings(Model):
    """TLS towards the Redis server."""

    enabled: bool = False
    verify: bool = True
    ca_file: AbsolutePath | None = None
    server_name: Hostname | None = None


class RedisConnection(Model):
    """One Redis server (and database) that applications' queues live on."""

    name: Slug = Field(description="Unique name; the file is connections/<name>.yaml.")
    host: Hostname
    port: Annotated[int, Field(ge=1, le=65535)] = 6379
    database: Annotated[int, Field(ge=0, le=15)] = 0
    username: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]{1,128}$")] | None = None
    password: SecretRef | None = Field(
        default=None, description="SOPS file and key holding the password; never a literal."
    )
    tls: TlsSettings = TlsSettings()
    options: ConnectionOptions = ConnectionOptions()
    environment: Slug
    region: ShortText | None = None
    provider: ShortText | None = None
    notes: LongText | None = None
    description: SingleLine | None = None
    active: bool = True
    health: HealthThresholdOverrides = HealthThresholdOverrides()  # type: ignore[valid-type]


ConnectionDefaults = partial_model(
    RedisConnection,
    "ConnectionDefaults",
    exclude={"name", "host", "password", "notes", "description", "environment", "active"},
    doc="Defaults merged into every connection that does not set the field itself.",
)
