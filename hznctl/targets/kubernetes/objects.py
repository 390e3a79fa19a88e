"""Kubernetes objects of one worker group (or Horizon application) on a cluster, as dicts.

Every function here is pure: typed inventory values in, a manifest's data out, keys in the
order ``kubectl`` users read them. Why each choice is made is in docs/kubernetes.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hznctl.models import Application, WorkerGroup
from hznctl.models.kubernetes import KubernetesSettings, Resources

MANAGED_BY = "hznctl"
GROUP_LABEL = "hznctl.io/group"
RUNTIME_LABEL = "hznctl.io/runtime"
SECRETS_ANNOTATION = "hznctl.io/secrets-sha256"
CONFIG_ANNOTATION = "hznctl.io/config-sha256"
SOURCE_ANNOTATION = "hznctl.io/source-sha256"
CONTAINER = "worker"
HORIZON_MOUNT = "/etc/hznctl/horizon"
# KEDA's default listLength: the waiting jobs one pod is expected to keep up with.
JOBS_PER_POD = 5


@dataclass(frozen=True)
class Workload:
    """What one Deployment runs: a worker group, or a Horizon application's groups."""

    group: str
    application: Application
    worker: WorkerGroup | None  # None: Horizon, one pod running every group of the app
    workers: tuple[WorkerGroup, ...]
    argv: tuple[str, ...]
    env: tuple[dict[str, Any], ...]
    replicas: int | None  # None: KEDA owns the count
    grace_seconds: int
    memory_mb: int  # what the pod's workers may use before they restart themselves
    secrets: Mapping[str, str]  # Secret name -> its source hash (rolls pods on rotation)
    config_sha256: str | None = None  # Horizon's ConfigMap


def labels(settings: KubernetesSettings, workload: Workload, runtime: str) -> dict[str, str]:
    found = dict(sorted(settings.labels.items()))
    found |= {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/part-of": workload.application.slug,
        "app.kubernetes.io/component": workload.worker.name if workload.worker else "horizon",
        GROUP_LABEL: workload.group,
        RUNTIME_LABEL: runtime,
    }
    return found


def metadata(name: str, namespace: str, object_labels: Mapping[str, str],
             annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(object_labels)}
    if annotations:
        data["annotations"] = dict(annotations)
    return data


def _quantity_mi(megabytes: int) -> str:
    return f"{megabytes}Mi"


def resources(settings: KubernetesSettings, own: Resources | None, memory_mb: int
              ) -> dict[str, dict[str, str]]:
    """Requests and limits: the group's own, else the cluster's, memory always limited."""
    def pick(name: str) -> str | None:
        value: str | None = getattr(own, name) if own is not None else None
        if value is None:
            value = getattr(settings.resources, name)
        return value

    memory_limit = pick("memory_limit") or _quantity_mi(memory_mb + settings.memory_overhead)
    limits = {"memory": memory_limit}
    requests = {"memory": pick("memory_request") or memory_limit}
    if (cpu := pick("cpu_limit")) is not None:
        limits["cpu"] = cpu
    if (cpu := pick("cpu_request")) is not None:
        requests["cpu"] = cpu
    return {"limits": dict(sorted(limits.items())), "requests": dict(sorted(requests.items()))}


def deployment(settings: KubernetesSettings, workload: Workload, image: str, runtime: str
               ) -> dict[str, Any]:
    app = workload.application
    object_labels = labels(settings, workload, runtime)
    annotations = {}
    if workload.secrets:
        annotations[SECRETS_ANNOTATION] = _joined(workload.secrets)
    if workload.config_sha256 is not None:
        annotations[CONFIG_ANNOTATION] = workload.config_sha256
    own = workload.worker.resources if workload.worker is not None else None
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image,
        # Exec form, no shell: the worker is PID 1 and gets the kubelet's SIGTERM itself.
        "command": list(workload.argv),
        "workingDir": app.directory,
        "env": list(workload.env),
        "resources": resources(settings, own, workload.memory_mb),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    if workload.config_sha256 is not None:
        container["volumeMounts"].append(
            {"name": "horizon", "mountPath": HORIZON_MOUNT, "readOnly": True})
        volumes.append({"name": "horizon", "configMap": {"name": horizon_config_name(app)}})
    pod: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        # A graceful stop outlasts the longest job (timeout plus the stop margin).
        "terminationGracePeriodSeconds": workload.grace_seconds,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.run_as_user,
            "runAsGroup": settings.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }
    if settings.service_account is not None:
        pod["serviceAccountName"] = settings.service_account
    if settings.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": n} for n in settings.image_pull_secrets]
    spec: dict[str, Any] = {}
    if workload.replicas is not None:  # left out where KEDA owns it: an apply would fight it
        spec["replicas"] = workload.replicas
    spec |= {
        "revisionHistoryLimit": 3,
        "selector": {"matchLabels": {GROUP_LABEL: workload.group}},
        "strategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": object_labels, **({"annotations": annotations}
                                                     if annotations else {})},
            "spec": pod,
        },
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": metadata(workload.group, settings.namespace, object_labels),
            "spec": spec}


def _joined(hashes: Mapping[str, str]) -> str:
    from hznctl.bundle.manifest import sha256_hex

    return sha256_hex("".join(f"{k}={v}\n" for k, v in sorted(hashes.items())).encode())


def disruption_budget(settings: KubernetesSettings, workload: Workload, runtime: str
                      ) -> dict[str, Any]:
    # maxUnavailable, not minAvailable: a one-pod group must not block a node's drain.
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": metadata(workload.group, settings.namespace,
                                 labels(settings, workload, runtime)),
            "spec": {"maxUnavailable": 1,
                     "selector": {"matchLabels": {GROUP_LABEL: workload.group}}}}


def horizon_config_name(app: Application) -> str:
    return f"{app.slug}-horizon"


def horizon_config(settings: KubernetesSettings, workload: Workload, runtime: str,
                   file_name: str, text: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": metadata(horizon_config_name(workload.application), settings.namespace,
                                 labels(settings, workload, runtime)),
            "data": {file_name: text}}


@dataclass(frozen=True)
class Trigger:
    """One list of waiting jobs that KEDA counts."""

    list_name: str
    queue: str


@dataclass(frozen=True)
class RedisTarget:
    """The Redis a group's triggers read, as KEDA's redis scaler spells it."""

    address: str
    database: int
    username: str | None
    tls: bool
    verify: bool
    auth: str | None  # TriggerAuthentication name, when the connection has a password


def scaled_object(settings: KubernetesSettings, workload: Workload, runtime: str,
                  triggers: Sequence[Trigger], redis: RedisTarget, min_replicas: int,
                  max_replicas: int) -> dict[str, Any]:
    names = [f"list{i}" for i in range(len(triggers))]
    items = []
    for name, trigger in zip(names, triggers, strict=True):
        meta: dict[str, str] = {"address": redis.address, "listName": trigger.list_name,
                                "listLength": str(JOBS_PER_POD),
                                "databaseIndex": str(redis.database)}
        if redis.username is not None:
            meta["username"] = redis.username
        if redis.tls:
            meta["enableTLS"] = "true"
            if not redis.verify:
                meta["unsafeSsl"] = "true"
        item: dict[str, Any] = {"type": "redis", "name": name, "metadata": meta}
        if redis.auth is not None:
            item["authenticationRef"] = {"name": redis.auth}
        items.append(item)
    return {
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": metadata(workload.group, settings.namespace,
                             labels(settings, workload, runtime)),
        "spec": {
            "scaleTargetRef": {"name": workload.group},
            "minReplicaCount": min_replicas,
            "maxReplicaCount": max_replicas,
            "advanced": {"scalingModifiers": {
                # One queue's backlog is the sum of all its lists, and the group's the sum
                # of its queues': KEDA would otherwise scale on the longest list alone.
                "formula": " + ".join(names),
                "target": str(JOBS_PER_POD),
                "metricType": "AverageValue",
            }},
            "triggers": items,
        },
    }


def trigger_authentication(namespace: str, object_labels: Mapping[str, str], name: str,
                           secret: str) -> dict[str, Any]:
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication",
            "metadata": metadata(name, namespace, object_labels),
            "spec": {"secretTargetRef": [
                {"parameter": "password", "name": secret, "key": "password"}]}}


def secret_header(namespace: str, object_labels: Mapping[str, str], name: str,
                  source_sha256: str) -> dict[str, Any]:
    """A Secret's fields but its values (which are encrypted when the tree is written)."""
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": metadata(name, namespace, object_labels,
                                 {SOURCE_ANNOTATION: source_sha256}),
            "type": "Opaque"}


def kustomization(namespace: str, resources_: Sequence[str]) -> dict[str, Any]:
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "namespace": namespace, "resources": sorted(resources_)}
