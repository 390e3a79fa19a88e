"""Typed inventory models (pydantic v2, strict and closed)."""

from hznctl.models.application import (
    DEFAULT_RETRY_AFTER,
    SCALING_RUNTIMES,
    Application,
    Balance,
    ConnectionBinding,
    Runtime,
    WorkerGroup,
)
from hznctl.models.connection import (
    ConnectionOptions,
    HealthThresholds,
    RedisConnection,
    TlsSettings,
)
from hznctl.models.host import Host, SupervisordSettings
from hznctl.models.notification import ChannelType, NotificationChannel, NotificationEvent
from hznctl.models.project import Defaults, HealthSettings, Project
from hznctl.models.secret import SecretRef

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "SCALING_RUNTIMES",
    "Application",
    "Balance",
    "ChannelType",
    "ConnectionBinding",
    "ConnectionOptions",
    "Defaults",
    "HealthSettings",
    "HealthThresholds",
    "Host",
    "NotificationChannel",
    "NotificationEvent",
    "Project",
    "RedisConnection",
    "Runtime",
    "SecretRef",
    "SupervisordSettings",
    "TlsSettings",
    "WorkerGroup",
]
