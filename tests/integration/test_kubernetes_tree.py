"""The Kubernetes target's tree against the real things: Kubernetes' and KEDA's schemas,
`kubectl kustomize`, the sops binary, and the keys real queue clients write in Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.kubernetes import support
from tests.kubernetes.support import CANARY, CLUSTER_KEY, EXPECTED, build, documents, write
from tests.kubernetes.validation import problems

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    out = tmp_path_factory.mktemp("tree")
    return out, write(build(), out)


def test_every_manifest_passes_the_kubernetes_and_keda_schemas(written):
    _, files = written
    kinds = set()
    for rel, data in files.items():
        if not rel.endswith(".yaml") or rel == "kustomization.yaml":  # kubectl checks it
            continue
        for document in documents(data):
            document.pop("sops", None)  # Flux removes it when it decrypts
            kinds.add(document["kind"])
            assert problems(document) == [], rel
    assert kinds == {"Deployment", "PodDisruptionBudget", "ScaledObject",
                     "TriggerAuthentication", "ConfigMap", "Secret"}


def test_the_schemas_refuse_a_broken_manifest():
    """The validators bite: a misspelt field and a wrong type are reported."""
    tree = build()
    deployment = documents(tree.files["deployments/mailer-mail.yaml"])[0]
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 30
    assert problems(deployment)
    scaled = documents(tree.files["autoscaling/mailer-mail.yaml"])[0]
    scaled["spec"]["minReplicaCount"] = "one"
    assert problems(scaled)
    scaled = documents(tree.files["autoscaling/mailer-mail.yaml"])[0]
    scaled["spec"]["advanced"]["scalingModifiers"]["formular"] = "x"
    assert problems(scaled)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kubernetes-client)")
def test_kubectl_kustomize_builds_the_tree(written):
    out, files = written
    result = subprocess.run(["kubectl", "kustomize", str(out)], capture_output=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode()
    built = documents(result.stdout)
    names = {(d["kind"], d["metadata"]["name"]) for d in built}
    listed = {(d["kind"], d["metadata"]["name"]) for rel, data in files.items()
              if rel.endswith(".yaml") and rel != "kustomization.yaml"
              for d in documents(data)}
    assert names == listed
    assert {d["metadata"]["namespace"] for d in built} == {"queues"}


def test_secrets_decrypt_with_real_sops_to_the_right_values(written):
    """Encrypted for the cluster's recipient (Flux's key), stringData only, as Flux wants."""
    from hznctl.secrets.sops import sops_binary

    out, files = written
    path = out / "secrets" / "hznctl-redis-tls.yaml"
    raw = documents(path.read_bytes())[0]
    assert raw["sops"]["encrypted_regex"] == "^(data|stringData)$"
    assert [r["recipient"] for r in raw["sops"]["age"]] == [
        "age1l9qtewpyn8x80je7h9yufclplt885d8ds0l3g37pdtq090gg64hsexyua5"]
    assert "data" not in raw and all(v.startswith("ENC[") for v in raw["stringData"].values())
    assert raw["metadata"]["name"] == "hznctl-redis-tls"  # readable by kustomize
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(CLUSTER_KEY)}
    result = subprocess.run([sops_binary(), "--disable-version-check", "decrypt", str(path)],
                            capture_output=True, env=env, timeout=60, check=True)
    plain = documents(result.stdout)[0]
    assert plain["stringData"] == {
        "password": CANARY,
        "url": "rediss://queues:canary-Zq8vK2pX7-secret%40%2F%3A%25@"
               "redis-tls.prod.internal:6380/2?ssl_cert_reqs=required",
    }
    assert set(files) >= {"secrets/hznctl-redis-tls.yaml"}
    assert "secrets/hznctl-redis-plain.yaml" not in files  # no password, no Secret


def test_the_canary_password_is_in_no_manifest(written):
    _, files = written
    for rel, data in files.items():
        assert CANARY.encode() not in data, rel
        assert b"canary-Zq8vK2pX7" not in data, rel


def test_unchanged_secrets_are_kept_without_a_key(written, tmp_path):
    """sops output differs on every run: a Secret made from the same sources is kept, so
    an unchanged recompile writes the same bytes and needs no key."""
    out, files = written
    again = write(build(), tmp_path, key=None, existing=out)
    assert again == files


def test_a_changed_source_needs_a_key(written, tmp_path):
    from hznctl.targets.kubernetes.secrets import SecretsNeedKey

    inventory = tmp_path / "inventory"
    shutil.copytree(support.INVENTORY, inventory)
    connection = inventory / "connections" / "redis-tls.yaml"
    connection.write_text(connection.read_text().replace("database: 2", "database: 3"))
    out, _ = written
    with pytest.raises(SecretsNeedKey, match=r"hznctl-redis-tls must be encrypted from "
                       r"secrets/redis-tls\.yaml, and no age identity"):
        write(build(inventory), tmp_path / "tree", inventory=inventory, key=None,
              existing=out)


def test_golden_tree():
    """Every plain file of the fixture's tree, byte for byte (Secrets are checked by
    decryption: their ciphertext differs on every run). HZNCTL_UPDATE_GOLDEN=1 rewrites."""
    files = build().files
    if os.environ.get("HZNCTL_UPDATE_GOLDEN"):
        shutil.rmtree(EXPECTED, ignore_errors=True)
        for rel, data in files.items():
            (EXPECTED / rel).parent.mkdir(parents=True, exist_ok=True)
            (EXPECTED / rel).write_bytes(data)
    want = {p.relative_to(EXPECTED).as_posix(): p.read_bytes()
            for p in sorted(EXPECTED.rglob("*")) if p.is_file()}
    assert sorted(files) == sorted(want)
    for rel in want:
        assert files[rel] == want[rel], f"{rel} differs from the golden file"
    runtimes = {d.runtime for d in build().manifest.deployments.values()}
    assert runtimes == {"laravel-horizon", "laravel-queue", "rq", "celery", "command"}


def test_same_inventory_same_bytes():
    assert build().files == build().files
