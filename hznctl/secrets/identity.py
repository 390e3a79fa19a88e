"""What a worker's restart depends on in a SOPS file: its encrypted values, not its bytes.

sops encrypts every value with the file's data key under a fresh IV, and wraps that data
key once per recipient in the ``sops`` metadata. Re-keying a file for other recipients
(``sops updatekeys``: a host added, a group moved) rewrites only the wrapped copies of the
data key, so the values (and the MAC over them) stay as they were; a new password
(``sops set``/``encrypt``) or a new data key (``sops rotate``) re-encrypts every value. The
identity of a file's values is therefore the hash of the document without its metadata:
it changes exactly when what a worker would decrypt (or the key it is under) changes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hznctl.secrets.sopsyaml import load_sops_yaml
from hznctl.yamlio import YamlProblem

_VERSION = b"hznctl secret values 1\n"
# The identity of the files read lately, by the SHA-256 of their bytes: `plan --base`
# builds two revisions that share most files. Bounded; only hex digests are kept.
_KNOWN: dict[bytes, str] = {}
_KNOWN_AT_MOST = 4096


def value_identity(data: bytes, path: Path) -> str:
    """SHA-256 of the file's values (everything but the ``sops`` metadata).

    A file that cannot be read as a SOPS document (validate refuses it before compile)
    falls back to its bytes, so that any change to it still counts.
    """
    key = hashlib.sha256(data).digest()
    found = _KNOWN.get(key)
    if found is None:
        if len(_KNOWN) >= _KNOWN_AT_MOST:
            _KNOWN.clear()
        found = _KNOWN[key] = _value_identity(data, path)
    return found


def _value_identity(data: bytes, path: Path) -> str:
    try:
        document = load_sops_yaml(data, path)
    except YamlProblem:
        document = None
    if not isinstance(document, dict) or "sops" not in document:
        return hashlib.sha256(data).hexdigest()
    values = {str(k): v for k, v in document.items() if k != "sops"}
    canonical = json.dumps(values, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(_VERSION + canonical.encode("ascii")).hexdigest()


def file_value_identity(path: Path) -> str | None:
    """``value_identity`` of the file at ``path``; None when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return value_identity(data, path)
