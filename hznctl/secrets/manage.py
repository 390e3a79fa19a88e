"""Operator actions on secrets: keys, passwords, recipients, rotation, status.

Encryption and edits go through the real sops binary; every file is written atomically
(sops works on a copy in a private folder, the result is checked and renamed into place).
Plaintext reaches sops on stdin only, never as an argument or a temporary file.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from hznctl.atomic import fsync_dir, write_bytes, write_text
from hznctl.errors import missing_key
from hznctl.inventory import Inventory, load_inventory
from hznctl.readfile import read_regular
from hznctl.secrets.decrypt import Identities, clear_cache
from hznctl.secrets.errors import SecretError
from hznctl.secrets.recipients import (
    Reader,
    SecretUse,
    describe_recipient,
    readers_by_file,
    secret_uses,
)
from hznctl.secrets.sops import run_sops
from hznctl.secrets.structure import inspect_file

SOPS_CONFIG = ".sops.yaml"
DEFAULT_KEY = "password"


# -- keys ---------------------------------------------------------------------------------

def generate_identity(path: Path, *, force: bool = False) -> str:
    """Write a new age identity to ``path`` (0600, atomically); returns its public key."""
    from pyrage import x25519

    if path.exists() and not force:
        raise SecretError(f"{path} already exists: a key is not overwritten without --force "
                          "(the secrets encrypted to it would become unreadable)")
    identity = x25519.Identity.generate()
    recipient = str(identity.to_public())
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_text(path, f"# created: {created}\n# public key: {recipient}\n{identity}\n",
               mode=0o600)
    return recipient


# -- inventory ----------------------------------------------------------------------------

def load_for_secrets(root: Path) -> Inventory:
    """The inventory, refusing to derive recipients from one with unreadable files."""
    loaded = load_inventory(root)
    errors = [d for d in loaded.diagnostics if d.is_error]
    if errors:
        raise SecretError(f"the inventory has {len(errors)} error(s) (first: {errors[0].text()});"
                          " fix them first (`hznctl validate`)")
    if loaded.inventory.project is None:
        raise SecretError(f"{root} has no project.yaml")
    return loaded.inventory


@dataclass
class FileStatus:
    """One referenced secret file: who must read it, who can, what is wrong."""

    file: str
    users: list[str]
    problem: str | None
    needed: dict[str, Reader]
    present: frozenset[str]
    other_keys: tuple[str, ...] = ()  # PGP, KMS, … master keys: hznctl leaves them alone
    extra_who: dict[str, str] = field(default_factory=dict)

    @property
    def missing(self) -> list[Reader]:
        return [r for k, r in self.needed.items() if k not in self.present]

    @property
    def extra(self) -> list[str]:
        return sorted(self.present - set(self.needed))

    @property
    def up_to_date(self) -> bool:
        return self.problem is None and not self.missing and not self.extra

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file, "used_by": self.users, "problem": self.problem,
            "up_to_date": self.up_to_date,
            "missing": [{"recipient": r.recipient, "who": r.who} for r in self.missing],
            "extra": [{"recipient": r, "who": self.extra_who.get(r, "an unknown key")}
                      for r in self.extra],
            "recipients": sorted(self.needed),
        }


def file_statuses(inventory: Inventory, uses: Sequence[SecretUse] | None = None
                  ) -> list[FileStatus]:
    uses = secret_uses(inventory) if uses is None else uses
    users: dict[str, list[str]] = {}
    for use in uses:
        users.setdefault(use.file, []).append(f"{use.kind} {use.name}")
    statuses = []
    for file, needed in readers_by_file(uses).items():
        found = inspect_file(inventory.root / file)
        present = found.recipients if found.ok else frozenset()
        statuses.append(FileStatus(
            file, users[file], found.problem, needed, present, found.other_keys,
            extra_who={r: describe_recipient(inventory, r) for r in present - set(needed)}))
    return statuses


def sops_config_text(inventory: Inventory, uses: Sequence[SecretUse] | None = None) -> str:
    """.sops.yaml creation rules: each file encrypted to exactly the keys that need it."""
    uses = secret_uses(inventory) if uses is None else uses
    rules = []
    for file, readers in readers_by_file(uses).items():
        if not readers:
            continue
        rules.append({"path_regex": f"(^|/){re.escape(file)}$",
                      "age": ",".join(sorted(readers))})
    header = ("# Generated by `hznctl secrets sync` from the inventory: who must read each "
              "secret file.\n# Do not edit by hand: change hosts, placements or project.yaml "
              "health.recipients,\n# then run `hznctl secrets sync`.\n")
    return header + yaml.safe_dump({"creation_rules": rules}, sort_keys=False, width=10_000)


def _identity_env(identities: Identities | None, file: str) -> dict[str, str]:
    """sops' key for decrypting ``file``; without one (and none in sops' own environment
    variable) the one missing-key error, before sops says it in many more words."""
    if identities is not None:
        return {"SOPS_AGE_KEY": "\n".join(identities.lines)}
    if not sops_has_a_key():
        raise missing_key([file])
    return {}


def sops_has_a_key() -> bool:
    """Whether sops finds an age key of its own (an inline key or a command printing one)."""
    return bool(os.environ.get("SOPS_AGE_KEY") or os.environ.get("SOPS_AGE_KEY_CMD"))


@contextmanager
def _scratch_copy(root: Path, file: str) -> Iterator[Path]:
    """A copy of ``root/file`` at the same relative path in a private folder under root.

    sops matches creation rules on the path, so the copy keeps it; the folder is on the
    same file system, so the result is renamed into place atomically.
    """
    scratch = Path(tempfile.mkdtemp(prefix=".hznctl-sops-", dir=root))
    try:
        copy = scratch / file
        copy.parent.mkdir(parents=True, exist_ok=True)
        source = root / file
        if source.exists():
            shutil.copy2(source, copy)
        yield copy
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _install(copy: Path, target: Path) -> None:
    checked = inspect_file(copy)
    if not checked.ok:
        raise SecretError(f"sops produced an unusable {target}: {checked.problem}")
    os.chmod(copy, 0o644)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(copy, target)
    fsync_dir(target.parent)
    clear_cache()


# -- set ----------------------------------------------------------------------------------

@dataclass
class SetResult:
    connection: str
    file: str
    key: str
    readers: list[Reader]
    hosts_without_recipient: list[str]
    reference_added: bool
    created: bool


def set_password(root: Path, connection: str, value: str, *, file: str | None = None,
                 key: str | None = None, identities: Identities | None = None) -> SetResult:
    """Encrypt ``value`` as ``connection``'s password for exactly the keys that need it."""
    if not value:
        raise SecretError("the password is empty")
    inventory = load_for_secrets(root)
    conn = inventory.connections.get(connection)
    if conn is None:
        raise SecretError(f"no connection {connection!r} in {root} (connections: "
                          f"{', '.join(sorted(inventory.connections)) or 'none'})")
    ref_file = conn.password.sops if conn.password else (file or f"secrets/{connection}.yaml")
    ref_key = conn.password.key if conn.password else (key or DEFAULT_KEY)
    if conn.password and ((file and file != ref_file) or (key and key != ref_key)):
        raise SecretError(f"connection {connection} already refers to {ref_file}:{ref_key}; "
                          "edit its password field to move it")
    reference_added = conn.password is None and set_reference(root, connection, ref_file,
                                                              ref_key)
    if reference_added:
        inventory = load_for_secrets(root)
    uses = secret_uses(inventory)
    use = next(u for u in uses if u.kind == "connection" and u.name == connection)
    readers = list(readers_by_file(uses)[ref_file].values())
    if not readers:
        raise SecretError(f"nobody could read {ref_file}: no host runs a worker using "
                          f"{connection} and project.yaml health.recipients is empty")
    write_sops_config(root, inventory)
    target = root / ref_file
    existing = inspect_file(target)
    if target.exists() and not existing.ok:
        # Replacing it would drop whatever else it holds: the operator decides.
        raise SecretError(f"{ref_file} exists but is not a usable SOPS file "
                          f"({existing.problem}); fix it, or delete it and run this again")
    others = (existing.keys | existing.nested | existing.clear) - {ref_key}
    if existing.ok and others:
        _set_in_place(root, ref_file, ref_key, value, identities)
        sync_files(root, [ref_file], identities=identities)
    else:
        _encrypt_new(root, ref_file, {ref_key: value}, [r.recipient for r in readers])
    return SetResult(connection, ref_file, ref_key, readers, list(use.hosts_without_recipient),
                     reference_added, not existing.ok)


def set_reference(root: Path, connection: str, file: str, key: str) -> bool:
    from hznctl.secrets.edit import set_secret_reference

    return set_secret_reference(root / "connections" / f"{connection}.yaml", "password",
                                file, key)


def _encrypt_new(root: Path, file: str, plain: dict[str, str], recipients: list[str]) -> None:
    data = yaml.safe_dump(plain, allow_unicode=True).encode("utf-8")
    secrets = list(plain.values())
    with _scratch_copy(root, file) as copy:
        # Plaintext on stdin. sops refuses a file its .sops.yaml has no rule for, so the
        # caller writes the config first; the recipients are also given explicitly.
        output = run_sops(["--config", str(root / SOPS_CONFIG), "encrypt",
                           "--age", ",".join(sorted(recipients)),
                           "--input-type", "yaml", "--output-type", _type(file),
                           "--filename-override", str(copy)],
                          what=f"cannot encrypt {file}", input=data, cwd=root,
                          secrets=secrets, env={"SOPS_AGE_RECIPIENTS": ""})
        write_bytes(copy, output)
        _install(copy, root / file)


def _type(file: str) -> str:
    return "json" if file.endswith(".json") else "yaml"


def _set_in_place(root: Path, file: str, key: str, value: str,
                  identities: Identities | None) -> None:
    import json

    with _scratch_copy(root, file) as copy:
        run_sops(["set", "--value-stdin", str(copy), json.dumps([key])],
                 what=f"cannot set {key} in {file}", input=json.dumps(value).encode(),
                 env=_identity_env(identities, file), secrets=[value])
        _install(copy, root / file)


# -- sync, rotate -------------------------------------------------------------------------

@dataclass
class FileChange:
    file: str
    added: list[str]
    removed: list[str]
    action: str  # "updated", "unchanged", "skipped: …", "rotated"


def write_sops_config(root: Path, inventory: Inventory) -> bool:
    return write_text(root / SOPS_CONFIG, sops_config_text(inventory))


def sops_config_current(root: Path, inventory: Inventory) -> bool:
    """Whether ``root``'s .sops.yaml is a regular file saying what the inventory says.

    Anything else there (missing, a FIFO, a folder, too large, not UTF-8) is out of date,
    and read without blocking: the next sync replaces it.
    """
    expected = sops_config_text(inventory).encode("utf-8")
    try:
        return read_regular(root / SOPS_CONFIG, len(expected)) == expected
    except OSError:
        return False


def sync_files(root: Path, only: Sequence[str] | None = None, *,
               identities: Identities | None = None, dry_run: bool = False
               ) -> tuple[bool, list[FileChange]]:
    """Write .sops.yaml from the inventory, then `sops updatekeys` the files that differ."""
    inventory = load_for_secrets(root)
    config_changed = not sops_config_current(root, inventory)
    if not dry_run:
        write_sops_config(root, inventory)
    changes = []
    for status in file_statuses(inventory):
        if only is not None and status.file not in only:
            continue
        change = FileChange(status.file, [r.recipient for r in status.missing], status.extra,
                            "unchanged")
        if status.problem is not None:
            change.action = f"skipped: {status.problem}"
        elif status.other_keys and not status.up_to_date:
            # updatekeys would drop them: .sops.yaml names age recipients only.
            change.action = (f"skipped: it also has {', '.join(status.other_keys)} keys; "
                             "update its recipients with sops directly")
        elif not status.up_to_date:
            change.action = "would update" if dry_run else "updated"
            if not dry_run:
                _update_keys(root, status.file, identities)
        changes.append(change)
    return config_changed, changes


def _update_keys(root: Path, file: str, identities: Identities | None) -> None:
    with _scratch_copy(root, file) as copy:
        run_sops(["--config", str(root / SOPS_CONFIG), "updatekeys", "-y", str(copy)],
                 what=f"cannot update the recipients of {file}", cwd=root,
                 env=_identity_env(identities, file))
        _install(copy, root / file)


def rotate_files(root: Path, files: Sequence[str], *, identities: Identities | None = None
                 ) -> list[FileChange]:
    """A new data key for each file (`sops rotate`): keys removed earlier learn nothing new."""
    inventory = load_for_secrets(root)
    known = {s.file: s for s in file_statuses(inventory)}
    changes = []
    for file in files:
        status = known.get(file)
        if status is None:
            raise SecretError(f"{file} is not referenced by any connection or notification")
        if status.problem is not None:
            raise SecretError(f"{file}: {status.problem}")
        with _scratch_copy(root, file) as copy:
            run_sops(["rotate", "-i", str(copy)], what=f"cannot rotate the data key of {file}",
                     cwd=root, env=_identity_env(identities, file))
            _install(copy, root / file)
        changes.append(FileChange(file, [], [], "rotated"))
    return changes


def connection_files(inventory: Inventory, connections: Sequence[str]) -> list[str]:
    files = []
    for name in connections:
        conn = inventory.connections.get(name)
        if conn is None:
            raise SecretError(f"no connection {name!r}")
        if conn.password is None:
            raise SecretError(f"connection {name} has no password")
        files.append(conn.password.sops)
    return list(dict.fromkeys(files))
