"""Notification channels: where outage and recovery messages go."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, Strict

from hznctl.models.common import Model, SingleLine, Slug
from hznctl.models.secret import SecretRef


class ChannelType(StrEnum):
    SLACK = "slack"
    WEBHOOK = "webhook"


class NotificationEvent(StrEnum):
    DOWN = "down"
    CRITICAL = "critical"
    WARNING = "warning"
    ERROR = "error"
    RECOVERED = "recovered"


class NotificationChannel(Model):
    """A webhook that hears about connection status transitions."""

    name: Slug = Field(description="Unique name; the file is notifications/<name>.yaml.")
    type: Annotated[ChannelType, Strict(False)]
    url: SecretRef = Field(description="SOPS file and key holding the webhook URL.")
    description: SingleLine | None = None
    events: list[Annotated[NotificationEvent, Strict(False)]] = Field(
        default_factory=lambda: [
            NotificationEvent.DOWN,
            NotificationEvent.ERROR,
            NotificationEvent.CRITICAL,
            NotificationEvent.RECOVERED,
        ]
    )
    environments: list[Slug] = Field(
        default_factory=list, description="Only connections of these environments; empty: all."
    )
    connections: list[Slug] = Field(
        default_factory=list, description="Only these connections; empty: all."
    )
    timeout: Annotated[float, Field(gt=0, le=60)] = 5.0
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    active: bool = True
