"""What can be checked about a SOPS file with no key at all (a pull request from a fork).

sops leaves key names and its metadata in clear: we can tell that a file is encrypted
(metadata present, every leaf that should be encrypted is ``ENC[…]``), which keys it holds
and which age recipients can read it. Nothing here decrypts, and no message quotes a value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hznctl.secrets.decrypt import MAX_SECRET_FILE_BYTES, EncryptionRules, NeedsSopsBinary
from hznctl.secrets.errors import SecretError
from hznctl.secrets.sopsyaml import load_sops_yaml
from hznctl.yamlio import YamlProblem

_ENC_PREFIX = "ENC[AES256_GCM,data:"
_OTHER_MASTER_KEYS = ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms")


@dataclass(frozen=True)
class SopsFile:
    """A SOPS file as seen without its key."""

    path: Path
    problem: str | None  # why the file is unusable (missing, not SOPS, plaintext leaf, …)
    keys: frozenset[str] = frozenset()  # top-level keys holding a single encrypted value
    nested: frozenset[str] = frozenset()  # top-level keys holding a mapping or list
    clear: frozenset[str] = frozenset()  # top-level keys sops leaves unencrypted by rule
    recipients: frozenset[str] = frozenset()  # age recipients
    other_keys: tuple[str, ...] = ()  # PGP, KMS, … master key types also present

    @property
    def ok(self) -> bool:
        return self.problem is None

    def key_problem(self, key: str) -> str | None:
        """Why ``key`` cannot hold a secret in this file (None when it can)."""
        if key in self.keys:
            return None
        if key in self.clear:
            return (f"key {key!r} of {self.path.name} is left unencrypted by the file's sops "
                    "rules: a secret must be encrypted")
        if key in self.nested:
            return f"key {key!r} of {self.path.name} holds a mapping or list, not one value"
        return f"{self.path.name} has no key {key!r}" + (
            f" (keys: {', '.join(sorted(self.keys))})" if self.keys else ""
        )


def inspect_file(path: Path) -> SopsFile:
    """Read ``path`` without decrypting it; never raises for a user's mistake."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SECRET_FILE_BYTES + 1)
    except FileNotFoundError:
        return SopsFile(path, "the file does not exist")
    except OSError as exc:
        return SopsFile(path, f"the file cannot be read ({exc.strerror})")
    if len(data) > MAX_SECRET_FILE_BYTES:
        return SopsFile(path, f"the file is larger than {MAX_SECRET_FILE_BYTES} bytes")
    try:
        document = load_sops_yaml(data, path)
    except YamlProblem as problem:
        return SopsFile(path, f"the file is not readable YAML/JSON: line {problem.line}: "
                              f"{problem.message}")
    if not isinstance(document, dict) or not isinstance(document.get("sops"), dict):
        return SopsFile(path, "the file is not SOPS-encrypted (no sops metadata): if it "
                              "holds a secret, that secret is in plaintext")
    return _inspect_document(path, document)


def _inspect_document(path: Path, document: dict[Any, Any]) -> SopsFile:
    meta: dict[str, Any] = document["sops"]
    for field in ("mac", "lastmodified"):
        if not meta.get(field):
            return SopsFile(path, f"the sops metadata has no {field}")
    recipients = _age_recipients(meta)
    others = tuple(name for name in _OTHER_MASTER_KEYS if meta.get(name))
    if meta.get("key_groups"):
        others = (*others, "key_groups")
    if not recipients and not others:
        return SopsFile(path, "the sops metadata lists no recipient")
    try:
        rules = EncryptionRules.from_metadata(path, meta)
    except NeedsSopsBinary:
        rules = None
    except SecretError as exc:  # contradictory encryption rules
        return SopsFile(path, str(exc))
    keys: set[str] = set()
    nested: set[str] = set()
    clear: set[str] = set()
    for key, value in document.items():
        if key == "sops":
            continue
        if not isinstance(key, str):
            return SopsFile(path, "the file has a key that is not text")
        plaintext = _first_plaintext_leaf(value, [key], rules)
        if plaintext is not None:
            return SopsFile(path, f"{plaintext} is not encrypted: every value must be "
                                  "ENC[AES256_GCM,…] (encrypt the file with sops)")
        if isinstance(value, dict | list):
            nested.add(key)
        elif rules is not None and not rules.encrypts([key]):
            clear.add(key)
        else:
            keys.add(key)
    return SopsFile(path, None, frozenset(keys), frozenset(nested), frozenset(clear),
                    frozenset(recipients), others)


def _age_recipients(meta: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    entries = meta.get("age")
    if isinstance(entries, list):
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("recipient"), str) and entry.get(
                "enc"
            ):
                found.add(entry["recipient"])
    for group in meta.get("key_groups") or []:
        if isinstance(group, dict):
            found |= _age_recipients(group)
    return found


def _first_plaintext_leaf(value: Any, path: list[str], rules: EncryptionRules | None) -> str | None:
    """Dotted path of the first leaf that should be encrypted but is not."""
    if isinstance(value, dict):
        for key, item in value.items():
            found = _first_plaintext_leaf(item, [*path, str(key)], rules)
            if found is not None:
                return found
        return None
    if isinstance(value, list):
        for item in value:
            found = _first_plaintext_leaf(item, path, rules)
            if found is not None:
                return found
        return None
    if value is None or value == "":
        return None
    # Comment-based rules cannot be judged without the comments: expect encryption.
    if rules is not None and not rules.encrypts(path):
        return None
    if isinstance(value, str) and value.startswith(_ENC_PREFIX) and value.endswith("]"):
        return None
    return ".".join(path)


class FileCache:
    """Inspect each file once per run, however many references point at it.

    ``earlier(path)``: what inspecting a file of the same bytes found before, if known
    (another inventory's cache; see ``known``): a usable file is taken from there, under
    its own path. A file found unusable is inspected again, since its problem may name
    its path."""

    def __init__(self, earlier: Callable[[Path], SopsFile | None] | None = None) -> None:
        self._seen: dict[Path, SopsFile] = {}
        self._earlier = earlier

    def get(self, path: Path) -> SopsFile:
        found = self._seen.get(path)
        if found is None:
            before = self._earlier(path) if self._earlier is not None else None
            found = self._seen[path] = (dataclasses.replace(before, path=path)
                                        if before is not None and before.ok
                                        else inspect_file(path))
        return found

    def known(self, path: Path) -> SopsFile | None:
        """What ``get`` found of ``path`` so far (None: not inspected)."""
        return self._seen.get(path)
