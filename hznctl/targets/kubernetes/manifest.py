"""A cluster tree's ``manifest.json``: what `plan` compares (not a Kubernetes resource)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

MANIFEST = "manifest.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DeploymentEntry(_Strict):
    """One Deployment: where it comes from, how many pods, and its pod template in words."""

    application: str
    worker: str | None
    runtime: str
    file: str
    replicas: str  # "3", or "1..8 (KEDA)"
    # The pod template flattened to one line per field (containers[worker].image …): a
    # change here is what makes Kubernetes roll the pods.
    template: dict[str, str]
    secrets: dict[str, str]  # Secret name -> source hash


class ClusterManifest(_Strict):
    format: Literal[1] = 1
    target: Literal["kubernetes"] = "kubernetes"
    generator: str
    cluster: str
    namespace: str
    environment: str
    revision: str | None
    recipient: str | None
    deployments: dict[str, DeploymentEntry]
    files: dict[str, str]  # path -> sha256 of the plain manifests
    secrets: dict[str, str]  # path -> source hash of each (encrypted) Secret
