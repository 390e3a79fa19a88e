"""Project settings (inventory/project.yaml): environments, health runner, defaults."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from hznctl.models.application import ApplicationDefaults, WorkerDefaults
from hznctl.models.common import AgeRecipient, Model, ShortText, SingleLine, Slug
from hznctl.models.connection import ConnectionDefaults, HealthThresholds
from hznctl.models.host import HostDefaults


class HealthSettings(Model):
    """The health runner: whose key reads the passwords, and what is healthy by default."""

    recipients: list[AgeRecipient] = Field(
        default_factory=list,
        description="age public keys of the health runner; every connection secret is "
        "encrypted to them too.",
    )
    thresholds: HealthThresholds = HealthThresholds()
    deadline: Annotated[float, Field(gt=0, le=600)] = 10.0
    check_timeout: Annotated[float, Field(gt=0, le=120)] = 3.0
    concurrency: Annotated[int, Field(ge=1, le=10000)] = 200


class Defaults(Model):
    application: ApplicationDefaults = ApplicationDefaults()  # type: ignore[valid-type]
    worker: WorkerDefaults = WorkerDefaults()  # type: ignore[valid-type]
    connection: ConnectionDefaults = ConnectionDefaults()  # type: ignore[valid-type]
    host: HostDefaults = HostDefaults()  # type: ignore[valid-type]


class Project(Model):
    """Settings of the whole inventory."""

    name: ShortText
    description: SingleLine | None = None
    environments: list[Slug] = Field(min_length=1)
    stop_margin: Annotated[int, Field(ge=0, le=3600)] = Field(
        default=30,
        description="Seconds added to a worker group's timeout for supervisord's stopwaitsecs.",
    )
    health: HealthSettings = HealthSettings()
    defaults: Defaults = Defaults()

    @field_validator("environments")
    @classmethod
    def _unique_environments(cls, environments: list[str]) -> list[str]:
        seen: set[str] = set()
        for environment in environments:
            if environment in seen:
                raise ValueError(f"environment {environment!r} is listed twice")
            seen.add(environment)
        return environments
