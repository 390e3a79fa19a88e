"""Plans for clusters: which Deployments roll, and why, field by field.

Kubernetes rolls a Deployment's pods when its pod template changes, and only then: a new
replica count or autoscaling setting scales without restarting anything. The manifest
holds each pod template flattened to fields, so a plan names the fields that changed;
the Secrets and Horizon's ConfigMap reach the template through hash annotations (a
rotated password rolls exactly the Deployments that read it), shown as what they mean.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from hznctl.errors import HznctlError
from hznctl.plan.model import FieldChange, GroupPlan, HostPlan
from hznctl.targets.kubernetes.manifest import MANIFEST, ClusterManifest, DeploymentEntry
from hznctl.targets.kubernetes.objects import CONFIG_ANNOTATION, SECRETS_ANNOTATION

_ANNOTATIONS = "metadata.annotations."


def _pods(name: str, entry: DeploymentEntry, rolling: bool = False) -> tuple[str, ...]:
    count = entry.replicas.removesuffix(" (KEDA)")
    return (f"the pods of deployment/{name} (rolling update)" if rolling
            else f"{count} pod(s) of deployment/{name}",)


def template_changes(before: DeploymentEntry, after: DeploymentEntry) -> list[FieldChange]:
    """Fields of the pod template that differ: each one rolls the pods."""
    changes = []
    for key in sorted(set(before.template) | set(after.template)):
        old, new = before.template.get(key), after.template.get(key)
        if old == new:
            continue
        if key == _ANNOTATIONS + SECRETS_ANNOTATION:
            changes += _secret_changes(before, after)
        elif key == _ANNOTATIONS + CONFIG_ANNOTATION:
            changes.append(FieldChange("horizon", note="Horizon supervisors changed"))
        else:
            changes.append(FieldChange(key.removeprefix("spec."), old, new))
    return changes


def _secret_changes(before: DeploymentEntry, after: DeploymentEntry) -> list[FieldChange]:
    notes = []
    for name in sorted(set(before.secrets) | set(after.secrets)):
        old, new = before.secrets.get(name), after.secrets.get(name)
        if old is None:
            notes.append(FieldChange(name, note=f"uses Secret {name}"))
        elif new is None:
            notes.append(FieldChange(name, note=f"no longer uses Secret {name}"))
        elif old != new:
            notes.append(FieldChange(name, note=f"Secret {name} changed (password rotated "
                                                 "or connection moved)"))
    return notes


def _scaling_changes(old: ClusterManifest, new: ClusterManifest, name: str,
                     before: DeploymentEntry, after: DeploymentEntry) -> list[FieldChange]:
    changes = []
    if before.replicas != after.replicas:
        changes.append(FieldChange("replicas", before.replicas, after.replicas))
    path = f"autoscaling/{name}.yaml"
    if before.replicas == after.replicas and old.files.get(path) != new.files.get(path):
        changes.append(FieldChange(path, note="autoscaling triggers changed"))
    if old.files.get(after.file) != new.files.get(after.file) and not changes and \
            before.template == after.template:
        changes.append(FieldChange(after.file, note="disruption budget or labels changed"))
    return changes


def plan_cluster(old: ClusterManifest | None, new: ClusterManifest) -> HostPlan:
    """Compare what a cluster runs (``old``; None for a new cluster) with what it must."""
    before = old.deployments if old is not None else {}
    after = new.deployments
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed, unchanged = [], []
    groups: dict[str, GroupPlan] = {}
    for name in added:
        groups[name] = GroupPlan(name, "add", starts=_pods(name, after[name]))
    for name in removed:
        groups[name] = GroupPlan(name, "remove", stops=_pods(name, before[name]))
    for name in sorted(set(before) & set(after)):
        assert old is not None
        rolls = template_changes(before[name], after[name])
        scaling = _scaling_changes(old, new, name, before[name], after[name])
        if not rolls and not scaling:
            unchanged.append(name)
            continue
        changed.append(name)
        pods = _pods(name, after[name], rolling=True) if rolls else ()
        groups[name] = GroupPlan(name, "change", tuple(rolls + scaling), stops=pods,
                                 starts=pods)
    return HostPlan(new.cluster, added, changed, removed, unchanged, groups, new.environment,
                    old.revision if old is not None else None, new.revision)


def plan_removed_cluster(old: ClusterManifest) -> HostPlan:
    groups = {name: GroupPlan(name, "remove", stops=_pods(name, entry))
              for name, entry in old.deployments.items()}
    return HostPlan(old.cluster, [], [], sorted(old.deployments), [], groups,
                    old.environment, old.revision, None)


def plan_clusters(old: Mapping[str, ClusterManifest], new: Mapping[str, ClusterManifest]
                  ) -> list[HostPlan]:
    return [plan_cluster(old.get(name), new[name]) if name in new
            else plan_removed_cluster(old[name]) for name in sorted(set(old) | set(new))]


def is_cluster_manifest(data: bytes) -> bool:
    """Whether a manifest.json is a cluster tree's (rather than a host bundle's)."""
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(raw, dict) and raw.get("target") == "kubernetes"


def parse_cluster_manifest(data: bytes, where: str) -> ClusterManifest:
    from pydantic import ValidationError

    try:
        return ClusterManifest.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise HznctlError(f"{where}: not a valid cluster manifest ({loc}: {first['msg']}); "
                          "recompile the tree") from None


def read_cluster_manifests(path: Path) -> dict[str, ClusterManifest]:
    """Clusters' manifests by name: ``path`` is one cluster's tree or a folder of bundles
    and trees (hosts' bundles are left out)."""
    candidates = [path] if (path / MANIFEST).is_file() else (
        sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else [])
    found: dict[str, ClusterManifest] = {}
    for folder in candidates:
        try:
            data = (folder / MANIFEST).read_bytes()
        except OSError:
            continue
        if is_cluster_manifest(data):
            manifest = parse_cluster_manifest(data, str(folder / MANIFEST))
            found[manifest.cluster] = manifest
    return found
