"""Secrets of a cluster tree: encrypted with the real sops for the cluster's age recipient.

In the tree a Secret is a ``PendingSecret``: where each value comes from, never a value.
When the tree is written, each value is decrypted in memory from the inventory's SOPS
file, the Secret (``stringData`` only) is piped to ``sops encrypt`` on stdin, and only its
encrypted output reaches a file. ``encrypted_regex`` is ``^(data|stringData)$``, as Flux's
kustomize-controller expects: metadata stays readable, so kustomize can still name, label
and place the Secret.

sops output differs on every run (a new data key, new nonces); a Secret whose sources did
not change is kept as it is on disk (its ``hznctl.io/source-sha256`` annotation says what it
was made from), so an unchanged recompile writes the same bytes and needs no key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hznctl.errors import HznctlError
from hznctl.execspec import RedisUrl
from hznctl.secrets.decrypt import Identities, decrypt_value
from hznctl.secrets.errors import SecretError
from hznctl.secrets.sops import run_sops
from hznctl.secrets.worker_env import redis_url
from hznctl.targets.kubernetes import yamltext
from hznctl.targets.kubernetes.objects import SOURCE_ANNOTATION

if TYPE_CHECKING:
    from hznctl.targets.kubernetes.tree import ClusterTree

FLUX_ENCRYPTED_REGEX = "^(data|stringData)$"
MAX_SECRET_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SecretValue:
    """One key of a Secret: a value of a SOPS file, or a redis URL holding it."""

    key: str
    sops: str  # inventory path of the SOPS file
    sops_key: str
    url: RedisUrl | None = None  # set: the value is this URL with the password in it


@dataclass(frozen=True)
class PendingSecret:
    path: str
    name: str
    header: dict[str, Any]
    values: tuple[SecretValue, ...]
    source_sha256: str  # everything the file is made from: kept while it is the same
    values_sha256: str  # what its values are made from: pods roll when it changes


class SecretsNeedKey(HznctlError):
    """A Secret must be (re-)encrypted and no identity can read its source."""


def kept_secret(existing: Path, secret: PendingSecret) -> bytes | None:
    """The Secret already written at ``existing`` when it was made from the same sources."""
    try:
        fd = os.open(existing, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_SECRET_BYTES + 1)
    if len(data) > MAX_SECRET_BYTES:
        return None
    try:
        document = yamltext.load(data)
    except Exception:  # a damaged file is simply made again
        return None
    if not isinstance(document, dict) or not isinstance(document.get("sops"), dict):
        return None
    meta = document.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict) or annotations.get(SOURCE_ANNOTATION) != \
            secret.source_sha256:
        return None
    values = document.get("stringData")
    if document.get("data") is not None or not isinstance(values, dict) or \
            set(values) != {v.key for v in secret.values}:
        return None
    if not all(isinstance(v, str) and v.startswith("ENC[AES256_GCM,") for v in values.values()):
        return None  # never keep a value that is not encrypted
    return data


def plaintext_values(secret: PendingSecret, root: Path, identities: Identities
                     ) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in secret.values:
        password = decrypt_value(root / item.sops, item.sops_key, identities)
        if item.url is None:
            values[item.key] = password
        else:
            values[item.key] = redis_url(item.url, {str(item.url.password_env): password})
    return values


def encrypt(secret: PendingSecret, recipient: str, values: Mapping[str, str]) -> bytes:
    """The Secret with ``values``, encrypted by sops; the plaintext only ever on a pipe."""
    document = {**secret.header, "stringData": {k: values[k] for k in sorted(values)}}
    plain = yamltext.dump(document)
    shown = list(values.values())
    output = run_sops(["--config", os.devnull, "encrypt", "--age", recipient,
                       "--encrypted-regex", FLUX_ENCRYPTED_REGEX,
                       "--input-type", "yaml", "--output-type", "yaml",
                       "--filename-override", secret.path],
                      what=f"cannot encrypt Secret {secret.name}", input=plain,
                      secrets=shown, env={"SOPS_AGE_RECIPIENTS": ""})
    return output


IdentitySource = Callable[[], Identities | None]


def encrypt_secrets(cluster: str, recipient: str | None, secrets: Mapping[str, PendingSecret],
                    root: Path, existing: Path | None, identity_source: IdentitySource
                    ) -> dict[str, bytes]:
    """Each Secret's file: kept from ``existing`` when its sources did not change, else
    encrypted anew, which needs identities that can read its source (``identity_source``
    is called only then: a recompile that keeps every Secret reads no key)."""
    found: dict[str, bytes] = {}
    loaded: list[Identities | None] = []
    for path, secret in secrets.items():
        kept = kept_secret(existing / path, secret) if existing is not None else None
        if kept is not None:
            found[path] = kept
            continue
        if recipient is None:
            raise SecretsNeedKey(f"cluster {cluster}: no age_recipient to encrypt Secret "
                                 f"{secret.name} for")
        if not loaded:
            loaded.append(identity_source())
        identities = loaded[0]
        if identities is None:
            sources = ", ".join(sorted({v.sops for v in secret.values}))
            raise SecretsNeedKey(
                f"cluster {cluster}: Secret {secret.name} must be encrypted from {sources}, "
                "and no age identity was given to read it (--identity, $HZNCTL_AGE_KEY_FILE "
                "or $SOPS_AGE_KEY_FILE)")
        try:
            found[path] = encrypt(secret, recipient, plaintext_values(secret, root, identities))
        except SecretError as exc:
            raise SecretsNeedKey(f"cluster {cluster}: {exc}") from None
    return found


def tree_files(tree: ClusterTree, root: Path, existing: Path | None,
               identity_source: IdentitySource) -> dict[str, bytes]:
    """Every file of ``tree`` as it is written: its manifests and its encrypted Secrets."""
    encrypted = encrypt_secrets(tree.cluster, tree.manifest.recipient, tree.secrets, root,
                                existing, identity_source)
    return dict(sorted({**tree.files, **encrypted}.items()))
