"""The Kubernetes target as the registry knows it, and the edge where its trees are written.

``build`` is pure (no key, no file written): it is what `plan` compares. ``finish`` gives
each tree its Secrets, encrypted (or kept from the output folder), right before writing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hznctl import __version__
from hznctl.compile.compiler import SecretFiles
from hznctl.inventory import Inventory
from hznctl.models.host import HostTarget
from hznctl.secrets.decrypt import Identities, default_identity_paths, load_identities
from hznctl.targets.kubernetes.secrets import IdentitySource, tree_files
from hznctl.targets.kubernetes.tree import ClusterTree, build_cluster_trees

GENERATOR = f"hznctl {__version__}"


def cluster_names(inventory: Inventory) -> list[str]:
    """Active hosts that are Kubernetes clusters, sorted."""
    return sorted(name for name, host in inventory.hosts.items()
                  if host.active and host.target is HostTarget.KUBERNETES)


class KubernetesTarget:
    """A kustomize tree per cluster, applied by Flux or Argo CD (not by `hznctl deploy`)."""

    name = "kubernetes"

    def build(self, inventory: Inventory, hosts: Sequence[str], revision: str | None,
              templates: Any = None) -> dict[str, ClusterTree]:
        return build_cluster_trees(inventory, list(hosts), revision=revision,
                                   secret_hash=SecretFiles(inventory.root).hash,
                                   generator=GENERATOR)

    def program_file(self, group: str) -> str:
        return f"deployments/{group}.yaml"

    @property
    def live(self) -> Mapping[str, tuple[str, Any]]:
        return {}  # the cluster's controllers reconcile; nothing hznctl compares live


TARGET = KubernetesTarget()


@dataclass(frozen=True)
class ClusterBundle:
    """A cluster's tree as it is written: every file, its Secrets encrypted."""

    host: str
    files: Mapping[str, bytes]

    def all_files(self) -> dict[str, bytes]:
        return dict(self.files)

    def file_hashes(self) -> Mapping[str, str]:
        return {}  # the writer hashes them


def identities_for_compile(paths: Sequence[Path] = ()) -> IdentitySource:
    """Where compile finds the age identities it decrypts with, read once when first
    needed: ``paths``, else $HZNCTL_AGE_KEY_FILE, $SOPS_AGE_KEY_FILE or sops' keys.txt;
    None when there is none (then only Secrets kept from the output folder are written)."""
    loaded: list[Identities | None] = []

    def source() -> Identities | None:
        if not loaded:
            chosen = list(paths) or default_identity_paths()
            loaded.append(load_identities(chosen) if chosen else None)
        return loaded[0]

    return source


def finish(trees: Mapping[str, ClusterTree], root: Path, out: Path,
           identity_source: IdentitySource) -> dict[str, ClusterBundle]:
    """Each tree with its Secrets: kept from ``out/<cluster>/`` when made from the same
    sources, else encrypted for the cluster (SecretsNeedKey when that needs a key)."""
    found = {}
    for name, tree in trees.items():
        existing = out / name
        found[name] = ClusterBundle(name, tree_files(
            tree, root, existing if existing.is_dir() and not existing.is_symlink() else None,
            identity_source))
    return found
