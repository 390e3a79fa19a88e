"""An application: its queue runtime, the Redis connections it binds and its worker groups."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, Strict, StringConstraints, ValidationInfo, field_validator

from hznctl.models.common import (
    AbsolutePath,
    EnvVarName,
    LabelKey,
    Model,
    QueueName,
    Seconds,
    ShortText,
    SingleLine,
    Slug,
    UnixUser,
    partial_model,
)
from hznctl.models.kubernetes import Image, Resources
from hznctl.models.program import ProgramOptions

Color = Annotated[str, StringConstraints(pattern=r"^#[0-9A-Fa-f]{6}$")]
Icon = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
MetadataValue = Annotated[str, StringConstraints(max_length=1024)] | int | float | bool
EnvValue = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f\x85\u2028\u2029]{0,4096}$")]
LabelValue = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
ModulePath = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.:]{0,255}$")]
Processes = Annotated[int, Field(ge=0, le=1000)]


class Runtime(StrEnum):
    """How a worker group runs; each has a template in templates/ and a queue key scheme."""

    LARAVEL_HORIZON = "laravel-horizon"
    LARAVEL_QUEUE = "laravel-queue"
    RQ = "rq"
    CELERY = "celery"
    COMMAND = "command"


class Balance(StrEnum):
    AUTO = "auto"
    SIMPLE = "simple"
    OFF = "off"


# Seconds after which the queue backend hands a reserved job to another worker, by runtime:
# Laravel's `retry_after` defaults to 90; Celery's Redis `visibility_timeout` to 3600.
DEFAULT_RETRY_AFTER: dict[Runtime, int | None] = {
    Runtime.LARAVEL_HORIZON: 90,
    Runtime.LARAVEL_QUEUE: 90,
    Runtime.CELERY: 3600,
    Runtime.RQ: None,
    Runtime.COMMAND: None,
}
# Runtimes that can scale processes between min and max by themselves.
SCALING_RUNTIMES = frozenset({Runtime.LARAVEL_HORIZON, Runtime.CELERY})


class ConnectionBinding(Model):
    """An application's use of a Redis connection (the old pivot table)."""

    connection: Slug
    primary: bool = False
    priority: Annotated[int, Field(ge=0, le=255)] = 0
    active: bool = True


class WorkerGroup(Model):
    """A named group of identical worker processes consuming an ordered list of queues."""

    name: Slug = Field(description="Unique within the application; program is <app>-<name>.")
    connection: Slug | None = Field(
        default=None, description="Bound connection to consume from; default: the primary."
    )
    kind: Literal["worker", "scheduler"] = Field(
        default="worker", description="worker: consumes its queues; scheduler: the "
        "runtime's companion scheduler (Laravel schedule:work, celery beat, rq cron), one "
        "process, no queues.")
    queues: list[QueueName] = Field(
        description="In order; what the order means depends on the runtime (strict "
        "priority but for Celery). Empty for a scheduler.")
    balance: Annotated[Balance, Strict(False)] = Balance.OFF
    min_processes: Processes = 1
    max_processes: Processes = 1
    tries: Annotated[int, Field(ge=0, le=1000)] = 1
    timeout: Annotated[int, Field(ge=0, le=86400)] = 60
    memory: Annotated[int, Field(ge=16, le=65536)] = 128
    sleep: Annotated[float, Field(ge=0, le=3600)] = 3
    max_jobs: Annotated[int, Field(ge=0)] = 0
    max_time: Seconds = 0
    backoff: Seconds | list[Seconds] = 0
    nice: Annotated[int, Field(ge=-20, le=19)] = 0
    rest: Annotated[int, Field(ge=0, le=3600)] = Field(
        default=0, description="Seconds to rest between jobs (Laravel).")
    force: bool = Field(default=False, description="Work even in maintenance mode (Laravel).")
    autoscaling_strategy: Literal["time", "size"] | None = Field(
        default=None, description="Horizon balance auto: scale by time to clear the queue "
        "(time) or by its length (size); default: Horizon's (time).")
    balance_max_shift: Annotated[int, Field(ge=1, le=1000)] | None = Field(
        default=None, description="Horizon balance auto: most processes added or removed "
        "at once; default: Horizon's (1).")
    balance_cooldown: Annotated[int, Field(ge=1, le=3600)] | None = Field(
        default=None, description="Horizon balance auto: seconds between scaling steps; "
        "default: Horizon's (3).")
    hosts: list[Slug] = Field(default_factory=list, description="Hosts to run on, by name.")
    host_labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, description="Also run on every host carrying all these labels."
    )
    stopwaitsecs: Seconds | None = Field(
        default=None, description="Grace period on stop; default: timeout plus a margin."
    )
    startsecs: Annotated[int, Field(ge=0, le=3600)] | None = None
    supervisord: ProgramOptions = Field(
        default=ProgramOptions(),
        description="supervisord options of the group's program (logs, priority, "
        "autostart, startretries, umask); unset ones come from the host.")
    command: SingleLine | None = Field(
        default=None, description="For the command runtime: overrides the application's command."
    )
    schedule: ModulePath | None = Field(
        default=None, description="rq scheduler: the cron configuration module (rq cron).")
    env: dict[EnvVarName, EnvValue] = Field(default_factory=dict)
    resources: Resources | None = Field(
        default=None, description="On a cluster: the container's requests and limits.")
    scale_to_zero: bool = Field(
        default=False, description="On a cluster with balance auto: allow min_processes 0 "
        "(waiting jobs only are counted: running ones may be stopped).")
    active: bool = True

    @field_validator("queues")
    @classmethod
    def _unique_queues(cls, queues: list[str], info: ValidationInfo) -> list[str]:
        if not queues and info.data.get("kind", "worker") == "worker":
            raise ValueError("a worker group needs at least one queue")
        seen: set[str] = set()
        for queue in queues:
            if queue in seen:
                raise ValueError(f"queue {queue!r} is listed twice")
            seen.add(queue)
        return queues


class Application(Model):
    """An application whose queue workers hznctl runs."""

    name: ShortText
    slug: Slug = Field(description="Identifier; the file is applications/<slug>.yaml.")
    description: SingleLine | None = None
    color: Color | None = None
    icon: Icon | None = None
    active: bool = True
    metadata: dict[LabelKey, MetadataValue] = Field(default_factory=dict)
    runtime: Annotated[Runtime, Strict(False)]
    environment: Slug
    allow_environments: list[Slug] = Field(
        default_factory=list,
        description="Other environments whose connections and hosts this application may use.",
    )
    directory: AbsolutePath = Field(description="Working directory of the workers.")
    user: UnixUser = "www-data"
    key_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:{}-]{0,128}$")] = ""
    horizon_prefix: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9_.:{}-]{1,128}$")] | None = Field(
        default=None, description="Horizon's own key prefix (config horizon.prefix); default "
        "Horizon's: the name as a slug with `_horizon:`.")
    executable: AbsolutePath | None = Field(
        default=None, description="Interpreter or worker binary; default from the runtime."
    )
    app_module: ModulePath | None = Field(
        default=None, description="Celery application (-A) or RQ worker class module."
    )
    command: SingleLine | None = Field(
        default=None, description="Command template for the command runtime."
    )
    retry_after: Annotated[int, Field(ge=1, le=86400 * 7)] | None = Field(
        default=None,
        description="Seconds before a reserved job is retried (Laravel retry_after, Celery "
        "visibility_timeout); default from the runtime.",
    )
    env: dict[EnvVarName, EnvValue] = Field(default_factory=dict)
    image: Image | None = Field(
        default=None, description="Container image of the workers on a Kubernetes cluster.")
    connections: list[ConnectionBinding] = Field(min_length=1)
    workers: list[WorkerGroup] = Field(default_factory=list)

    @property
    def effective_retry_after(self) -> int | None:
        return self.retry_after if self.retry_after is not None else DEFAULT_RETRY_AFTER[
            self.runtime
        ]

    def primary_binding(self) -> ConnectionBinding | None:
        primaries = [b for b in self.connections if b.active and b.primary]
        return primaries[0] if len(primaries) == 1 else None

    def worker_connection(self, worker: WorkerGroup) -> str | None:
        if worker.connection is not None:
            return worker.connection
        primary = self.primary_binding()
        return primary.connection if primary else None



WorkerDefaults = partial_model(
    WorkerGroup,
    "WorkerDefaults",
    exclude={"name", "connection", "queues", "hosts", "command", "env", "active", "kind",
             "schedule"},
    doc="Defaults merged into every worker group that does not set the field itself.",
)
ApplicationDefaults = partial_model(
    Application,
    "ApplicationDefaults",
    exclude={
        "name", "slug", "description", "color", "icon", "active", "metadata", "environment",
        "directory", "connections", "workers", "command", "app_module", "env",
        "allow_environments",
    },
    doc="Defaults merged into every application that does not set the field itself.",
)
