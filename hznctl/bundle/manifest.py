"""The bundle format: what `compile` writes for each host and what `plan` and `deploy` read.

A bundle is the folder ``DIR/<host>/``: ``manifest.json`` (this module's ``Manifest``:
what the host must run, with the hash of every file) and the files of the host's target
(for supervisord, see ``hznctl.targets.supervisord.layout``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from hznctl.bundle.jsonout import dump_plain_json
from hznctl.errors import HznctlError

FORMAT = 1
MANIFEST = "manifest.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SupervisordRef(_Strict):
    """Where the host's supervisord and hznctl's folders are (from the host's settings)."""

    url: str
    include_dir: str
    state_dir: str
    log_dir: str


class GroupEntry(_Strict):
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
    parameters: dict[str, str] = {}
    # Exit statuses with which its workers stop by themselves to be replaced (max_jobs);
    # `hznctl exec` replaces them in place, so supervisord never sees such an exit.
    recycle_exit_codes: list[int] = []


class Manifest(_Strict):
    format: Literal[1] = 1
    generator: str
    host: str
    environment: str
    revision: str | None
    supervisord: SupervisordRef
    groups: dict[str, GroupEntry]
    files: dict[str, str]
    # Each secret file's value identity (hznctl.secrets.identity): a group restarts when it
    # changes, not when the file is only re-encrypted for other recipients.
    secret_values: dict[str, str] = {}

    def group_files(self, group: str) -> dict[str, str]:
        """Every bundle file a group depends on, with what a restart depends on: its hash,
        or for a secret file the identity of its values (its program file included)."""
        entry = self.groups[group]
        paths = [entry.file, *entry.files]
        return {p: self.secret_values.get(p) or self.files.get(p, "") for p in paths}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_bytes(manifest: Manifest) -> bytes:
    # No field of a manifest is a float (tests/unit/test_dump_json.py checks).
    return dump_plain_json(manifest.model_dump(mode="json"), floats=False)


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
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise HznctlError(
            f"{where}: not a valid manifest ({loc}: {first['msg']}); recompile the bundle"
        ) from None


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


