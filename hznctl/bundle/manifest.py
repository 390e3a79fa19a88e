"""The bundle format: what `compile` writes for each host and what `plan` and `deploy` read.

A bundle is the folder ``DIR/<host>/``: ``manifest.json`` (this module's ``Manifest``:
what the host must run, with the hash of every file) and the files of the host's target
(for supervisord, see ``hznctl.targets.supervisord.layout``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from hznctl.bundle.jsonout import dump_plain_json
from hznctl.errors import HznctlError

FORMAT = 1
MANIFEST = "manifest.json"


@dataclass(frozen=True, kw_only=True)
class SupervisordRef:
    """Where the host's supervisord and hznctl's folders are (from the host's settings)."""

    url: str
    include_dir: str
    state_dir: str
    log_dir: str


@dataclass(frozen=True, kw_only=True)
class GroupEntry:
    """One supervisord program group of the bundle and what it must look like once loaded."""

    application: str
    worker: str | None
    runtime: str
    file: str
    sha256: str
    processes: int
    process_names: list[str]
    startsecs: int
    stopwaitsecs: int
    settings: dict[str, str]
    files: list[str]
    # The worker group's settings in the inventory's words (queues, tries …), so that a plan
    # can say `queues default → default,mail` rather than only `command … → …`.
    parameters: dict[str, str] = field(default_factory=dict)
    # Exit statuses with which its workers stop by themselves to be replaced (max_jobs);
    # `hznctl exec` replaces them in place, so supervisord never sees such an exit.
    recycle_exit_codes: list[int] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Manifest:
    format: int = FORMAT
    generator: str
    host: str
    environment: str
    revision: str | None
    supervisord: SupervisordRef
    groups: dict[str, GroupEntry]
    files: dict[str, str]
    # Each secret file's value identity (hznctl.secrets.identity): a group restarts when it
    # changes, not when the file is only re-encrypted for other recipients.
    secret_values: dict[str, str] = field(default_factory=dict)

    def group_files(self, group: str) -> dict[str, str]:
        """Every bundle file a group depends on, with what a restart depends on: its hash,
        or for a secret file the identity of its values (its program file included)."""
        entry = self.groups[group]
        paths = [entry.file, *entry.files]
        return {p: self.secret_values.get(p) or self.files.get(p, "") for p in paths}


# --- reading: every manifest.json read is checked against the types above ----------------
#
# By hand rather than with a schema library: `deploy` reads one manifest and should not pay
# for importing one. Strict as a strict schema is: a string is a JSON string, an integer a
# JSON integer (not a boolean, not 1.0), a list a list of its type, no field missing, none
# unknown. The first problem is reported, in field order, a nested entry's before the next
# field's and unknown fields after the known ones; ``tests/unit/test_manifest_read.py``
# holds this to a pydantic model of the same types, error for error.


class _Invalid(Exception):
    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


Check = Callable[[Any, tuple[str | int, ...]], Any]


def _string(value: Any, loc: tuple[str | int, ...]) -> str:
    if type(value) is not str:
        raise _Invalid(loc, "Input should be a valid string")
    return value


def _optional_string(value: Any, loc: tuple[str | int, ...]) -> str | None:
    return None if value is None else _string(value, loc)


def _integer(value: Any, loc: tuple[str | int, ...]) -> int:
    if type(value) is not int:
        raise _Invalid(loc, "Input should be a valid integer")
    return value


def _format(value: Any, loc: tuple[str | int, ...]) -> int:
    if type(value) is not int or value != FORMAT:
        raise _Invalid(loc, f"Input should be {FORMAT}")
    return value


def _list_of(item: Check) -> Check:
    def check(value: Any, loc: tuple[str | int, ...]) -> list[Any]:
        if type(value) is not list:
            raise _Invalid(loc, "Input should be a valid list")
        return [item(v, (*loc, i)) for i, v in enumerate(value)]
    return check


def _dict_of(item: Check) -> Check:
    def check(value: Any, loc: tuple[str | int, ...]) -> dict[str, Any]:
        if type(value) is not dict:
            raise _Invalid(loc, "Input should be a valid dictionary")
        return {k: item(v, (*loc, k)) for k, v in value.items()}
    return check


def _record(cls: type[Any], checks: dict[str, Check]) -> Check:
    """A JSON object into ``cls``: each field by its check, defaults for the fields that
    have one, nothing unknown."""
    required = {f.name for f in fields(cls)
                if f.default is MISSING and f.default_factory is MISSING}
    known = set(checks)

    def check(value: Any, loc: tuple[str | int, ...]) -> Any:
        if type(value) is not dict:
            raise _Invalid(loc, f"Input should be a valid dictionary or instance of "
                                f"{cls.__name__}")
        values: dict[str, Any] = {}
        for name, field_check in checks.items():
            if name in value:
                values[name] = field_check(value[name], (*loc, name))
            elif name in required:
                raise _Invalid((*loc, name), "Field required")
        for name in value:
            if name not in known:
                raise _Invalid((*loc, name), "Extra inputs are not permitted")
        return cls(**values)
    return check


_strings = _list_of(_string)
_string_map = _dict_of(_string)
_check_supervisord = _record(SupervisordRef, {
    "url": _string, "include_dir": _string, "state_dir": _string, "log_dir": _string})
_check_group = _record(GroupEntry, {
    "application": _string, "worker": _optional_string, "runtime": _string, "file": _string,
    "sha256": _string, "processes": _integer, "process_names": _strings,
    "startsecs": _integer, "stopwaitsecs": _integer, "settings": _string_map,
    "files": _strings, "parameters": _string_map, "recycle_exit_codes": _list_of(_integer)})
_check_manifest = _record(Manifest, {
    "format": _format, "generator": _string, "host": _string, "environment": _string,
    "revision": _optional_string, "supervisord": _check_supervisord,
    "groups": _dict_of(_check_group), "files": _string_map, "secret_values": _string_map})


def manifest_from_data(raw: Any) -> Manifest:
    """A manifest from decoded JSON; ``ValueError`` naming the first problem's field."""
    try:
        manifest: Manifest = _check_manifest(raw, ())
    except _Invalid as exc:
        loc = ".".join(str(p) for p in exc.loc) or "(top level)"
        raise ValueError(f"{loc}: {exc.message}") from None
    return manifest


def plain_manifest(manifest: Manifest) -> dict[str, Any]:
    """The manifest as JSON data, fields in their order (what ``manifest.json`` holds)."""
    sv = manifest.supervisord
    return {
        "format": manifest.format, "generator": manifest.generator, "host": manifest.host,
        "environment": manifest.environment, "revision": manifest.revision,
        "supervisord": {"url": sv.url, "include_dir": sv.include_dir,
                        "state_dir": sv.state_dir, "log_dir": sv.log_dir},
        "groups": {name: _plain_group(entry) for name, entry in manifest.groups.items()},
        "files": dict(manifest.files), "secret_values": dict(manifest.secret_values)}


def _plain_group(entry: GroupEntry) -> dict[str, Any]:
    return {
        "application": entry.application, "worker": entry.worker, "runtime": entry.runtime,
        "file": entry.file, "sha256": entry.sha256, "processes": entry.processes,
        "process_names": list(entry.process_names), "startsecs": entry.startsecs,
        "stopwaitsecs": entry.stopwaitsecs, "settings": dict(entry.settings),
        "files": list(entry.files), "parameters": dict(entry.parameters),
        "recycle_exit_codes": list(entry.recycle_exit_codes)}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_bytes(manifest: Manifest) -> bytes:
    # No field of a manifest is a float (tests/unit/test_dump_json.py checks).
    return dump_plain_json(plain_manifest(manifest), floats=False)


def manifest_target(data: bytes) -> str:
    """The target a manifest.json was written by (a supervisord bundle's names none)."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "supervisord"
    target = raw.get("target") if isinstance(raw, dict) else None
    return target if isinstance(target, str) else "supervisord"


def parse_manifest(data: bytes, where: str) -> Manifest:
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HznctlError(f"{where}: not a valid manifest (corrupt JSON: {exc})") from None
    if isinstance(raw, dict) and raw.get("target") == "kubernetes":
        raise HznctlError(f"{where}: the tree of a Kubernetes cluster: Flux or Argo CD applies "
                          "it (docs/kubernetes.md), not hznctl deploy")
    try:
        return manifest_from_data(raw)
    except ValueError as exc:
        raise HznctlError(f"{where}: not a valid manifest ({exc}); recompile the bundle") \
            from None


def read_manifest(bundle_dir: Path) -> Manifest:
    """The manifest of the bundle in ``bundle_dir``; HznctlError when missing or corrupt."""
    path = bundle_dir / MANIFEST
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HznctlError(f"{path}: no manifest here; is {bundle_dir} a hznctl bundle?") from None
    except OSError as exc:
        raise HznctlError(f"{path}: cannot read the manifest: {exc.strerror}") from None
    return parse_manifest(data, str(path))


def _is_supervisord(bundle_dir: Path) -> bool:
    try:
        return manifest_target((bundle_dir / MANIFEST).read_bytes()) == "supervisord"
    except OSError:
        return True  # read_manifest says what is wrong


def read_bundles(path: Path) -> dict[str, Manifest]:
    """Manifests by host: ``path`` is one host's bundle or a folder of host bundles.

    Other targets' trees in the folder (a Kubernetes cluster's) are left to their target.
    """
    if (path / MANIFEST).exists():
        if not _is_supervisord(path):
            return {}
        manifest = read_manifest(path)
        return {manifest.host: manifest}
    if not path.is_dir():
        raise HznctlError(f"{path}: no such bundle folder")
    found: dict[str, Manifest] = {}
    for entry in sorted(path.iterdir()):
        if entry.is_dir() and (entry / MANIFEST).exists() and _is_supervisord(entry):
            manifest = read_manifest(entry)
            found[manifest.host] = manifest
    return found


@dataclass(frozen=True)
class HostBundle:
    """A compiled bundle in memory: its files (paths relative to the bundle) and manifest."""

    host: str
    manifest: Manifest
    files: Mapping[str, bytes]

    @functools.cached_property
    def manifest_data(self) -> bytes:
        # Serialised once: writing, comparing and planning all read the same bytes.
        return manifest_bytes(self.manifest)

    def all_files(self) -> dict[str, bytes]:
        return {**self.files, MANIFEST: self.manifest_data}

    def file_hashes(self) -> Mapping[str, str]:
        """The SHA-256 of every file but the manifest, as the manifest lists them (the
        writer finds shared contents by them)."""
        return self.manifest.files


