"""In-process decryption of SOPS files encrypted for age keys, with the MAC verified.

The health runner reads hundreds of passwords; a sops process per file costs ~24 ms, this
costs well under a millisecond. It follows sops 3 exactly (getsops/sops ``sops.go``,
``aes/cipher.go``, ``stores/stores.go``):

* the data key (32 bytes) is age-encrypted once per recipient under ``sops.age[].enc``;
* every leaf is ``ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]``: AES-256-GCM with a 32-byte
  nonce, and as additional data the leaf's key path joined with ``:`` plus a trailing
  ``:`` (``password:``), so a value moved to another key does not authenticate;
* the MAC is the upper-case hex SHA-512 over every leaf's plaintext in file order (keys
  and their order are covered through the additional data), stored encrypted with the
  ``lastmodified`` timestamp (RFC 3339) as additional data.

Whatever this module does not read itself (PGP/KMS-only files, key groups, comment-based
encryption rules, typed clear-text values, other formats) goes to the sops binary.
Error messages name files, keys and recipients, never a plaintext value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hznctl.readfile import NotARegularFile, read_regular
from hznctl.redact import remember
from hznctl.secrets.errors import SecretError
from hznctl.secrets.sopsyaml import load_sops_yaml
from hznctl.yamlio import YamlProblem

__all__ = [
    "IDENTITY_ENV_VARS",
    "Identities",
    "SecretError",
    "clear_cache",
    "decrypt_file",
    "decrypt_value",
    "default_identity_paths",
    "load_identities",
]

# Our own variable first: on a worker host it names the host's key, whatever sops uses.
IDENTITY_ENV_VARS = ("HZNCTL_AGE_KEY_FILE", "SOPS_AGE_KEY_FILE")
MAX_SECRET_FILE_BYTES = 1024 * 1024
_ENC = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")
# sops.MACOnlyEncryptedInitialization: sha256(b"sops"), prefixed when mac_only_encrypted.
_MAC_ONLY_ENCRYPTED_INIT = hashlib.sha256(b"sops").digest()
_OTHER_MASTER_KEYS = ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms", "plugins")
_DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_INT = re.compile(r"[+-]?[0-9]+\Z")


class NeedsSopsBinary(Exception):
    """This file needs the sops binary (not a failure: the caller falls back)."""


@dataclass(frozen=True)
class Identities:
    """age identities loaded from files; repr shows only where they came from."""

    sources: tuple[Path, ...]
    recipients: tuple[str, ...]
    keys: tuple[Any, ...] = field(repr=False)  # pyrage x25519.Identity, same order
    lines: tuple[str, ...] = field(repr=False)  # for the sops binary (SOPS_AGE_KEY)

    @property
    def fingerprint(self) -> frozenset[str]:
        return frozenset(self.recipients)


def default_identity_paths() -> list[Path]:
    """Identity files named by $HZNCTL_AGE_KEY_FILE / $SOPS_AGE_KEY_FILE, else sops' default."""
    paths = [Path(os.environ[name]) for name in IDENTITY_ENV_VARS if os.environ.get(name)]
    if paths:
        return list(dict.fromkeys(paths))
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    default = config / "sops" / "age" / "keys.txt"
    return [default] if default.is_file() else []


def load_identities(paths: Iterable[Path]) -> Identities:
    """Read age X25519 identities (``AGE-SECRET-KEY-1…`` lines) from identity files."""
    from pyrage import IdentityError, x25519

    sources = tuple(paths)
    if not sources:
        raise SecretError("no age identity file: pass one, or set HZNCTL_AGE_KEY_FILE "
                          "(or SOPS_AGE_KEY_FILE)")
    found: dict[str, tuple[Any, str]] = {}
    for source in sources:
        for number, line in _identity_lines(source):
            if not line.startswith("AGE-SECRET-KEY-1"):
                raise SecretError(f"{source}:{number}: not an age X25519 identity "
                                  "(expected a line starting with AGE-SECRET-KEY-1)")
            try:
                identity = x25519.Identity.from_str(line)
            except (IdentityError, ValueError):
                raise SecretError(f"{source}:{number}: not a valid age identity") from None
            remember(line)
            found.setdefault(str(identity.to_public()), (identity, line))
    if not found:
        raise SecretError(f"no age identity in {', '.join(map(str, sources))}")
    recipients = tuple(found)
    return Identities(sources, recipients, tuple(found[r][0] for r in recipients),
                      tuple(found[r][1] for r in recipients))


def _identity_lines(source: Path) -> list[tuple[int, str]]:
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SecretError(f"age identity file {source} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise SecretError(f"cannot read age identity file {source}: {reason}") from None
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")]


@dataclass(frozen=True)
class _Decrypted:
    values: dict[str, str]  # top-level single values
    nested: frozenset[str]  # top-level keys holding a mapping or a list


_CACHE: dict[tuple[object, ...], _Decrypted] = {}
_CACHE_LIMIT = 20_000


def clear_cache() -> None:
    _CACHE.clear()


def decrypt_file(path: Path, identities: Identities) -> dict[str, str]:
    """Top-level keys of a SOPS file mapped to their plaintext, MAC verified.

    Decrypted once per (file, modification time, size, identities): many connections
    sharing one file cost one decryption.
    """
    return dict(_decrypted(path, identities).values)


def decrypt_value(path: Path, key: str, identities: Identities) -> str:
    """The plaintext under top-level ``key`` of a SOPS file."""
    decrypted = _decrypted(path, identities)
    if key in decrypted.values:
        return decrypted.values[key]
    if key in decrypted.nested:
        raise SecretError(f"{path}: key {key!r} holds a mapping or list, not a single value")
    raise SecretError(f"{path} has no key {key!r}")


def _decrypted(path: Path, identities: Identities) -> _Decrypted:
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise SecretError(f"secret file {path} does not exist") from None
    except OSError as exc:
        raise SecretError(f"cannot read secret file {path}: {exc.strerror}") from None
    cache_key = (str(path.absolute()), stat.st_ino, stat.st_mtime_ns, stat.st_size,
                 identities.fingerprint)
    hit = _CACHE.get(cache_key)
    if hit is not None:
        return hit
    try:
        result = _decrypt_in_process(path, identities)
    except NeedsSopsBinary:
        result = _decrypt_with_binary(path, identities)
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[cache_key] = result
    return result


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes of ``path``; a SecretError naming ``what`` otherwise."""
    try:
        data = read_regular(path, limit)
    except NotARegularFile as exc:
        raise SecretError(f"cannot read {what} {path}: it is {exc}") from None
    except OSError as exc:
        raise SecretError(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise SecretError(f"{what} {path} is larger than {limit} bytes")
    return data


def _read_document(path: Path) -> dict[str, Any]:
    if path.suffix not in (".yaml", ".yml", ".json"):
        raise NeedsSopsBinary
    data = read_bounded(path, MAX_SECRET_FILE_BYTES, "secret file")
    try:
        if path.suffix == ".json":
            document = json.loads(data)
        else:
            # hznctl's strict reader: its scalars match sops' YAML 1.2 reading (`yes` stays
            # text); sops' metadata block is scanned rather than parsed (sopsyaml).
            document = load_sops_yaml(data, path)
    except YamlProblem as problem:
        if "more than one YAML document" in problem.message:
            raise NeedsSopsBinary from None  # sops' multi-branch files
        raise SecretError(f"{path} is not a readable SOPS file ({problem.message})") from None
    except ValueError:
        raise SecretError(f"{path} is not a readable SOPS file (invalid JSON)") from None
    if not isinstance(document, dict) or not isinstance(document.get("sops"), dict):
        raise SecretError(f"{path} is not SOPS-encrypted: it has no sops metadata")
    return document


@dataclass(frozen=True)
class EncryptionRules:
    """Which leaves sops encrypted (sops.Tree.shouldBeEncrypted, without comment rules)."""

    unencrypted_suffix: str = ""
    encrypted_suffix: str = ""
    unencrypted_regex: re.Pattern[str] | None = None
    encrypted_regex: re.Pattern[str] | None = None
    mac_only_encrypted: bool = False

    @classmethod
    def from_metadata(cls, path: Path, meta: dict[str, Any]) -> EncryptionRules:
        if meta.get("unencrypted_comment_regex") or meta.get("encrypted_comment_regex"):
            raise NeedsSopsBinary
        names = ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex",
                 "encrypted_regex")
        given: dict[str, str] = {name: meta[name] for name in names if meta.get(name)}
        if any(not isinstance(value, str) for value in given.values()):
            raise NeedsSopsBinary
        if len(given) > 1:
            raise SecretError(f"{path}: sops metadata sets more than one of {', '.join(names)}")
        try:
            return cls(
                unencrypted_suffix=given.get("unencrypted_suffix", "" if given
                                             else _DEFAULT_UNENCRYPTED_SUFFIX),
                encrypted_suffix=given.get("encrypted_suffix", ""),
                unencrypted_regex=_compile(given.get("unencrypted_regex")),
                encrypted_regex=_compile(given.get("encrypted_regex")),
                mac_only_encrypted=meta.get("mac_only_encrypted") is True,
            )
        except re.error:
            raise NeedsSopsBinary from None  # a Go regular expression Python reads otherwise

    def encrypts(self, path: list[str]) -> bool:
        encrypted = True
        if self.unencrypted_suffix and any(p.endswith(self.unencrypted_suffix) for p in path):
            encrypted = False
        if self.encrypted_suffix:
            encrypted = any(p.endswith(self.encrypted_suffix) for p in path)
        if self.unencrypted_regex is not None and any(
            self.unencrypted_regex.search(p) for p in path
        ):
            encrypted = False
        if self.encrypted_regex is not None:
            encrypted = any(self.encrypted_regex.search(p) for p in path)
        return encrypted


def _compile(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern else None


class _TreeDecryptor:
    """Walks the data tree as sops does, decrypting leaves and hashing them for the MAC."""

    def __init__(self, path: Path, key: bytes, rules: EncryptionRules) -> None:
        self.path = path
        self.aead = AESGCM(key)
        self.rules = rules
        self.mac = hashlib.sha512()
        self.clear_leaves = 0  # values sops left in clear: their reading decides the MAC too
        if rules.mac_only_encrypted:
            self.mac.update(_MAC_ONLY_ENCRYPTED_INIT)

    def node(self, value: Any, path: list[str]) -> Any:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise NeedsSopsBinary
                out[key] = self.node(item, [*path, key])
            return out
        if isinstance(value, list):
            return [self.node(item, path) for item in value]
        if value is None:
            return None
        return self.leaf(value, path)

    def leaf(self, value: Any, path: list[str]) -> Any:
        encrypted = self.rules.encrypts(path)
        where = ".".join(path)
        if not encrypted:
            if not isinstance(value, str):
                raise NeedsSopsBinary  # PyYAML and sops' YAML 1.2 may type it differently
            plain: Any = value
            self.clear_leaves += 1
            mac_bytes = value.encode("utf-8")
        elif not isinstance(value, str):
            raise SecretError(f"{self.path}: {where} is not encrypted")
        else:
            plain, mac_bytes = self.decrypt(value, ":".join(path) + ":", where)
        if encrypted or not self.rules.mac_only_encrypted:
            self.mac.update(mac_bytes)
        return plain

    def decrypt(self, value: str, additional: str, where: str) -> tuple[Any, bytes]:
        """(plaintext, its bytes as sops.ToBytes hashes them)."""
        if value == "":
            return "", b""  # sops leaves empty values empty
        match = _ENC.match(value)
        if match is None:
            raise SecretError(f"{self.path}: {where} is not a sops-encrypted value")
        try:
            data, iv, tag = (base64.b64decode(match.group(i), validate=True) for i in (1, 2, 3))
        except binascii.Error:
            raise SecretError(f"{self.path}: {where} is a damaged encrypted value") from None
        if len(iv) < 8:
            raise SecretError(f"{self.path}: {where} is a damaged encrypted value")
        try:
            raw = self.aead.decrypt(iv, data + tag, additional.encode("utf-8"))
        except InvalidTag:
            raise SecretError(
                f"{self.path}: {where} does not authenticate: the value was changed, "
                "moved to another key, or belongs to another file"
            ) from None
        return _typed(self.path, where, match.group(4), raw)


def _typed(path: Path, where: str, kind: str, raw: bytes) -> tuple[Any, bytes]:
    text = raw.decode("utf-8", "surrogateescape")
    if kind == "str":
        return text, raw
    if kind in ("int", "int64") and _INT.match(text):
        number = int(text)
        return number, str(number).encode()
    if kind == "float":
        try:
            number_f = float(text)
        except ValueError:
            pass
        else:
            return number_f, _go_float(number_f).encode()
    if kind == "bool" and text in _GO_TRUE | _GO_FALSE:
        flag = text in _GO_TRUE
        return flag, b"True" if flag else b"False"
    if kind == "bytes":
        return raw, raw
    if kind == "comment":
        raise NeedsSopsBinary
    raise SecretError(f"{path}: {where} has an unreadable {kind!r} value")


def _go_float(value: float) -> str:
    """strconv.FormatFloat(value, 'f', -1, 64): shortest digits, never an exponent."""
    if value != value or value in (float("inf"), float("-inf")):
        raise NeedsSopsBinary
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _go_rfc3339(path: Path, value: Any) -> str:
    """time.Parse(RFC3339) then Format(RFC3339): whole seconds, 'Z' for UTC."""
    moment: datetime | None = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
    if moment is None or moment.utcoffset() is None:
        raise SecretError(f"{path}: sops metadata has no valid lastmodified timestamp")
    offset = moment.utcoffset()
    assert offset is not None
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if not offset:
        return stamp + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{stamp}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _data_key(path: Path, meta: dict[str, Any], identities: Identities) -> bytes:
    import pyrage

    if meta.get("key_groups") or meta.get("shamir_threshold"):
        raise NeedsSopsBinary
    entries = meta.get("age") or []
    if not isinstance(entries, list):
        raise SecretError(f"{path}: sops metadata 'age' is not a list")
    mine = dict(zip(identities.recipients, identities.keys, strict=True))
    tried: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        recipient, enc = entry.get("recipient"), entry.get("enc")
        if recipient not in mine or not isinstance(enc, str):
            continue
        tried.append(str(recipient))
        try:
            key: bytes = pyrage.decrypt(enc.encode("ascii", "replace"), [mine[recipient]])
        except Exception:  # pyrage raises DecryptError and, for bad armor, others
            continue
        if len(key) == 32:
            return key
    if tried:
        raise SecretError(f"cannot decrypt {path}: the data key stored for "
                          f"{', '.join(tried)} is damaged")
    if any(meta.get(name) for name in _OTHER_MASTER_KEYS):
        raise NeedsSopsBinary  # PGP, KMS, …: the binary may hold the right credentials
    listed = sorted(str(e.get("recipient")) for e in entries if isinstance(e, dict))
    raise SecretError(
        f"cannot decrypt {path}: none of the age identities in "
        f"{', '.join(map(str, identities.sources))} (public key(s) "
        f"{', '.join(identities.recipients)}) is among its recipients"
        + (f" ({', '.join(listed)})" if listed else " (it lists no age recipient)")
    )


def _decrypt_in_process(path: Path, identities: Identities) -> _Decrypted:
    document = _read_document(path)
    meta: dict[str, Any] = document["sops"]
    rules = EncryptionRules.from_metadata(path, meta)
    key = _data_key(path, meta, identities)
    walker = _TreeDecryptor(path, key, rules)
    tree = walker.node({k: v for k, v in document.items() if k != "sops"}, [])
    _verify_mac(path, meta, walker)
    return _result(tree)


def _verify_mac(path: Path, meta: dict[str, Any], walker: _TreeDecryptor) -> None:
    stored = meta.get("mac")
    if not isinstance(stored, str) or not stored:
        raise SecretError(f"{path}: sops metadata has no MAC")
    stamp = _go_rfc3339(path, meta.get("lastmodified"))
    try:
        expected, _ = walker.decrypt(stored, stamp, "the MAC")
    except SecretError:
        raise SecretError(f"{path}: MAC mismatch: the MAC or lastmodified was changed "
                          "after encryption") from None
    computed = walker.mac.hexdigest().upper()
    if not isinstance(expected, str) or not hmac.compare_digest(expected, computed):
        if walker.clear_leaves:
            # A clear value our YAML reader may type differently from sops': let sops judge.
            raise NeedsSopsBinary
        raise SecretError(f"{path}: MAC mismatch: the file was changed after it was "
                          "encrypted (a value, a key name or their order)")


def _result(tree: dict[str, Any]) -> _Decrypted:
    values: dict[str, str] = {}
    nested: set[str] = set()
    for key, value in tree.items():
        if isinstance(value, dict | list):
            nested.add(key)
        elif value is not None:
            values[key] = _as_text(value)
            remember(values[key])
        if isinstance(value, dict | list):
            _remember_all(value)
    return _Decrypted(values, frozenset(nested))


def _remember_all(value: Any) -> None:
    """Nested values are secrets too: a redactor that knows them keeps them out of messages."""
    for item in (value.values() if isinstance(value, dict) else value):
        if isinstance(item, dict | list):
            _remember_all(item)
        elif item is not None:
            remember(_as_text(item))


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _decrypt_with_binary(path: Path, identities: Identities) -> _Decrypted:
    from hznctl.secrets.sops import run_sops

    output = run_sops(["decrypt", "--output-type", "json", str(path)],
                      what=f"cannot decrypt {path}",
                      env={"SOPS_AGE_KEY": "\n".join(identities.lines)})
    try:
        tree = json.loads(output)
    except ValueError:
        raise SecretError(f"cannot decrypt {path}: sops printed no JSON") from None
    if not isinstance(tree, dict):
        raise SecretError(f"cannot decrypt {path}: not a mapping of keys")
    return _result(tree)
