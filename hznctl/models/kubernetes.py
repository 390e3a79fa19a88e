"""What a Kubernetes cluster needs beyond placement: its namespace, labels and pod defaults."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from hznctl.models.common import PATTERN_HELP, Model

# RFC 1123 label: what a namespace, an image pull secret or a service account is named.
DNS_LABEL_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
# A label key: an optional DNS prefix and "/", then a name (Kubernetes' qualified name).
K8S_LABEL_KEY_PATTERN = (r"^(?:[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?/)?"
                         r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
K8S_LABEL_VALUE_PATTERN = r"^(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$"
# Kubernetes' resource quantities as written by hand: 250m, 0.5, 256Mi, 1Gi.
CPU_PATTERN = r"^(?:[0-9]{1,6}m|[0-9]{1,4}(?:\.[0-9]{1,3})?)$"
MEMORY_PATTERN = r"^[0-9]{1,7}(?:Ki|Mi|Gi|Ti)$"
# An OCI image reference: [registry[:port]/]path[:tag][@sha256:digest], no spaces.
IMAGE_PATTERN = (r"^[a-z0-9][a-z0-9._-]*(?::[0-9]{1,5})?(?:/[a-z0-9][a-z0-9._-]*)*"
                 r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$")

DnsLabel = Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN)]
K8sLabelKey = Annotated[str, StringConstraints(pattern=K8S_LABEL_KEY_PATTERN, max_length=317)]
K8sLabelValue = Annotated[str, StringConstraints(pattern=K8S_LABEL_VALUE_PATTERN)]
Cpu = Annotated[str, StringConstraints(pattern=CPU_PATTERN)]
Memory = Annotated[str, StringConstraints(pattern=MEMORY_PATTERN)]
Image = Annotated[str, StringConstraints(pattern=IMAGE_PATTERN, max_length=512)]

PATTERN_HELP.update({
    DNS_LABEL_PATTERN: "a DNS label: lowercase letters, digits and '-', at most 63 characters",
    K8S_LABEL_KEY_PATTERN: "a Kubernetes label key such as team or example.com/team",
    K8S_LABEL_VALUE_PATTERN: "a Kubernetes label value: letters, digits and '_.-', at most "
    "63 characters",
    CPU_PATTERN: "a CPU quantity such as 250m or 0.5",
    MEMORY_PATTERN: "a memory quantity such as 256Mi or 1Gi",
    IMAGE_PATTERN: "an image reference such as registry.example.com/billing:1.4.2",
})


class Resources(Model):
    """Requests and limits of a worker's container (Kubernetes quantities)."""

    cpu_request: Cpu | None = None
    cpu_limit: Cpu | None = None
    memory_request: Memory | None = Field(
        default=None, description="Default: the memory limit (a worker's memory is not burst)."
    )
    memory_limit: Memory | None = Field(
        default=None,
        description="Default: the worker group's memory per process plus memory_overhead.",
    )


class KubernetesSettings(Model):
    """Where on a cluster hznctl's workers run, and what every pod of them gets."""

    namespace: DnsLabel = Field(description="Namespace of every object of the cluster's tree.")
    labels: dict[K8sLabelKey, K8sLabelValue] = Field(
        default_factory=dict, description="Labels added to every object and pod.")
    image_pull_secrets: list[DnsLabel] = Field(default_factory=list)
    service_account: DnsLabel | None = None
    resources: Resources = Resources()
    memory_overhead: Annotated[int, Field(ge=0, le=65536)] = Field(
        default=64, description="MB a pod gets above its workers' memory before it is killed.")
    run_as_user: Annotated[int, Field(ge=1, le=2**31 - 1)] = Field(
        default=65532, description="Non-root user id the workers run as.")
