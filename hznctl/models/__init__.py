"""Typed inventory models (pydantic v2, strict and closed).

The names below are imported on first use (PEP 562): `hznctl exec`, started for every
worker, needs only ``hznctl.models.common`` and must not pay for building every model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# name -> the submodule that defines it
_MODULES = {
    "DEFAULT_RETRY_AFTER": "application",
    "SCALING_RUNTIMES": "application",
    "Application": "application",
    "Balance": "application",
    "ConnectionBinding": "application",
    "Runtime": "application",
    "WorkerGroup": "application",
    "ConnectionOptions": "connection",
    "HealthThresholds": "connection",
    "RedisConnection": "connection",
    "TlsSettings": "connection",
    "Host": "host",
    "SupervisordSettings": "host",
    "ChannelType": "notification",
    "NotificationChannel": "notification",
    "NotificationEvent": "notification",
    "Defaults": "project",
    "HealthSettings": "project",
    "Project": "project",
    "SecretRef": "secret",
}

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


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULES))
