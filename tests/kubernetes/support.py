"""Build the kubernetes fixture's cluster tree, as `compile` does, into a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
INVENTORY = HERE / "inventory"
EXPECTED = HERE / "expected"
CLUSTER_KEY = HERE / "keys" / "cluster-test.agekey"
RUNNER_KEY = HERE / "keys" / "runner.agekey"
CLUSTER = "cluster-test"
# The password of redis-tls in secrets/redis-tls.yaml: characters a URL must escape.
CANARY = "canary-Zq8vK2pX7-secret@/:%"


def build(inventory: Path = INVENTORY, cluster: str = CLUSTER) -> Any:
    from hznctl.compile.compiler import SecretFiles
    from hznctl.targets.kubernetes.tree import build_cluster_tree
    from hznctl.validate import validate_inventory

    validation = validate_inventory(inventory)
    assert validation.ok(), [d.text() for d in validation.diagnostics]
    return build_cluster_tree(validation.inventory, cluster, revision=None,
                              secret_hash=SecretFiles(inventory).hash, generator="hznctl")


def write(tree: Any, out: Path, *, inventory: Path = INVENTORY, key: Path | None = RUNNER_KEY,
          existing: Path | None = None) -> dict[str, bytes]:
    from hznctl.secrets.decrypt import load_identities
    from hznctl.targets.kubernetes.secrets import tree_files

    identities = load_identities([key]) if key is not None else None
    files = tree_files(tree, inventory, existing, lambda: identities)
    for rel, data in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def documents(data: bytes) -> list[dict[str, Any]]:
    import yaml

    return [d for d in yaml.safe_load_all(data) if d is not None]
