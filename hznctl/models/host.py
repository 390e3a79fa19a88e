"""A worker host: a machine running supervisord, or a Kubernetes cluster and namespace."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, Strict, StringConstraints

from hznctl.models.common import (
    AbsolutePath,
    AgeRecipient,
    LabelKey,
    Model,
    SingleLine,
    Slug,
    partial_model,
)
from hznctl.models.kubernetes import KubernetesSettings
from hznctl.models.program import ProgramOptions

LabelValue = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
SupervisorUrl = Annotated[
    str, StringConstraints(pattern=r"^(?:unix://|https?://)[^\s\x00-\x1f\x7f]{1,1024}$")
]


class SupervisordSettings(Model):
    """Where the host's supervisord is and where hznctl puts what it manages."""

    url: SupervisorUrl = "unix:///var/run/supervisor.sock"
    include_dir: AbsolutePath = "/etc/supervisor/conf.d/hznctl"
    state_dir: AbsolutePath = "/var/lib/hznctl"
    log_dir: AbsolutePath = "/var/log/hznctl"
    age_key_file: AbsolutePath = "/etc/hznctl/age.key"
    hznctl_bin: AbsolutePath = "/usr/local/bin/hznctl"
    program: ProgramOptions = Field(
        default=ProgramOptions(),
        description="supervisord options of every program on the host; a worker group's "
        "own supervisord options win.")


class HostTarget(StrEnum):
    """What runs a host's workers, hence what `compile` writes for it."""

    SUPERVISORD = "supervisord"
    KUBERNETES = "kubernetes"


class Host(Model):
    """A machine that runs queue workers under supervisord, or a Kubernetes namespace."""

    name: Slug = Field(description="Unique name; the file is hosts/<name>.yaml.")
    environment: Slug
    description: SingleLine | None = None
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    age_recipient: AgeRecipient | None = Field(
        default=None,
        description="The host's age public key; secrets its workers need are encrypted to it.",
    )
    target: Annotated[HostTarget, Strict(False)] = HostTarget.SUPERVISORD
    supervisord: SupervisordSettings = SupervisordSettings()
    kubernetes: KubernetesSettings | None = Field(
        default=None, description="For target: kubernetes: namespace, labels, pod defaults.")
    active: bool = True


HostDefaults = partial_model(
    Host,
    "HostDefaults",
    exclude={"name", "environment", "description", "labels", "age_recipient", "active",
             "target"},
    doc="Defaults merged into every host that does not set the field itself.",
)
