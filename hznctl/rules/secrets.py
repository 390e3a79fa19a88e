"""Secrets rules, all checked without any key: a pull request from a fork is fully checked.

* no literal secret anywhere in the inventory (sensitive env values, URLs with a password,
  age private keys);
* every referenced SOPS file exists, is encrypted (every leaf ``ENC[…]``) and holds the key;
* every host that runs a worker using a connection, and the health runner, is among the
  recipients of the files it needs; a recipient nobody needs is reported as a warning.

No message quotes a value: it could be the secret itself.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hznctl.credentials import AGE_PRIVATE_KEY, url_with_password
from hznctl.diagnostics import Diagnostic, Severity
from hznctl.inventory import Inventory, display_path
from hznctl.rules import rule
from hznctl.secrets.recipients import (
    HEALTH_RUNNER,
    SecretUse,
    describe_recipient,
    readers_by_file,
    secret_uses,
)
from hznctl.secrets.structure import FileCache, SopsFile

SECRETS_FOLDER = "secrets"
_SENSITIVE_LAST = frozenset({"PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "SECRETS", "TOKEN",
                             "CREDENTIAL", "CREDENTIALS", "APIKEY"})
_SENSITIVE_SUFFIX = ("API_KEY", "PRIVATE_KEY", "SECRET_KEY", "ACCESS_KEY", "AUTH_KEY")
# Fields the models already refuse as literals (SecretRef): reported once, by the model.
_SECRET_REF_FIELDS = {"connection": ("password",), "notification": ("url",)}
_LITERAL_HINT = ("secrets live only in SOPS files: connection passwords reach workers as "
                 "REDIS_PASSWORD/REDIS_URL at exec time (`hznctl secrets set CONNECTION`)")


def sensitive_name(name: str) -> bool:
    """Whether a field or variable name says it holds a secret (DB_PASSWORD, API_TOKEN …)."""
    upper = name.upper().replace("-", "_")
    parts = [p for p in upper.split("_") if p]
    return bool(parts) and (
        parts[-1] in _SENSITIVE_LAST or "PASSWORD" in upper or upper.endswith(_SENSITIVE_SUFFIX)
    )


@functools.lru_cache(maxsize=4096)
def _sensitive_key(name: str) -> bool:
    # The same few field and variable names recur in every file of a large inventory.
    return sensitive_name(name)


def _literal_problem(name: str | int, value: str) -> str | None:
    """Why the text ``value`` under key ``name`` is a literal secret (None when it is not)."""
    if not value:
        return None
    # Upper-casing every value of every file costs; an age key always has its dashes
    # (upper() never makes one).
    if "-" in value and AGE_PRIVATE_KEY in value.upper():
        return "an age private key is written here: remove it and replace the key (it leaked)"
    if url_with_password(value):
        return "a URL with a password is written here: a literal secret is not allowed"
    if isinstance(name, str) and _sensitive_key(name):
        return f"{name} holds a literal secret: a literal secret is not allowed"
    return None


Finding = tuple[tuple[str | int, ...], str]


def _literals(value: Any, parts: tuple[str | int, ...], found: list[Finding]) -> None:
    """Append (field path, problem) for every text value under ``value``, depth first.

    Only text can be a literal secret; the path of a value is built only when the value
    is a container to descend into or a finding to report. Text without '@' (every URL
    with a password has one) and without '-' (an age key's) is a secret only by its
    key's name, which is cached: most values are ruled out without a call.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                if item and ("@" in item or "-" in item or _sensitive_key(str(key))):
                    name = str(key)
                    problem = _literal_problem(name, item)
                    if problem is not None:
                        found.append(((*parts, name), problem))
            elif isinstance(item, _CONTAINERS):
                _literals(item, (*parts, str(key)), found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                if "@" in item or "-" in item:
                    problem = _literal_problem(index, item)
                    if problem is not None:
                        found.append(((*parts, index), problem))
            elif isinstance(item, _CONTAINERS):
                _literals(item, (*parts, index), found)
    elif isinstance(value, str):
        problem = _literal_problem(parts[-1] if parts else "", value)
        if problem is not None:
            found.append((parts, problem))


_CONTAINERS = (dict, list)


@rule("secret-literal")
def literal_secrets(inventory: Inventory) -> Iterator[Diagnostic]:
    # What a document holds is a function of it and its kind: of a document the
    # inventory shares with the one it was loaded beside (``reusing``), what was found
    # there.
    seen: dict[tuple[str, str], list[Finding]] = inventory.derived("secrets.literals",
                                                                   lambda _: {})
    earlier = inventory.earlier.previous if inventory.earlier is not None else None
    before: dict[tuple[str, str], list[Finding]] = (
        earlier.computed("secrets.literals") or {}) if earlier is not None else {}
    for key, doc in sorted(inventory.documents.items()):
        kind, name = key
        found = before.get(key)
        if found is None or earlier is None or earlier.documents.get(key) is not doc:
            found = _literals_of(kind, doc.data)
        seen[key] = found
        for parts, problem in found:
            yield inventory.diagnostic(kind, name, parts, problem, code="secret-literal",
                                       hint=_LITERAL_HINT)


def _literals_of(kind: str, data: Any) -> list[Finding]:
    skip = _SECRET_REF_FIELDS.get(kind, ())
    found: list[Finding] = []
    if isinstance(data, dict) and any(str(key) in skip for key in data):
        data = {key: value for key, value in data.items() if str(key) not in skip}
    _literals(data, (), found)
    return found


class _Inside:
    """Whether a path is in the folder ``root`` (which is already resolved), once per
    secret reference: the real path of each folder is worked out once (what
    ``os.path.realpath`` does, on strings, not ``Path.resolve``), and of each file only
    whether it is itself a link."""

    def __init__(self, root: Path) -> None:
        top = os.fspath(root)
        self._top, self._under = top, top.rstrip(os.sep) + os.sep
        self._folders: dict[str, str | None] = {}

    def __call__(self, path: Path) -> bool:
        real = self._real(os.fspath(path))
        return real is not None and (real == self._top or real.startswith(self._under))

    def _real(self, text: str) -> str | None:
        folder, name = os.path.split(text)
        try:
            if not name or name in (os.curdir, os.pardir) or os.path.islink(text):
                return os.path.realpath(text)
        except OSError:
            return None
        if folder not in self._folders:
            try:
                self._folders[folder] = os.path.realpath(folder)
            except OSError:
                self._folders[folder] = None
        real = self._folders[folder]
        # A name that is not a link adds itself to its folder's real path, as in realpath.
        return None if real is None else os.path.join(real, name)


def _file_diagnostic(inventory: Inventory, use: SecretUse, found: SopsFile) -> Diagnostic | None:
    if found.problem is not None:
        hint = (f"create it with `hznctl secrets set {use.name}`"
                if use.kind == "connection" else "encrypt it with sops")
        return inventory.diagnostic(use.kind, use.name, (use.field, "sops"),
                                    f"{use.file}: {found.problem}", code="secret-file",
                                    hint=hint)
    problem = found.key_problem(use.ref.key)
    if problem is not None:
        return inventory.diagnostic(use.kind, use.name, (use.field, "key"), problem,
                                    code="secret-key")
    return None


@rule("secret-file")
def secret_files(inventory: Inventory) -> Iterator[Diagnostic]:
    files = _files(inventory)
    try:
        root = inventory.root.resolve()
    except OSError:
        root = None
    inside = _Inside(root) if root is not None else None
    for use in _uses(inventory):
        path = inventory.root / use.file
        if inside is None or not inside(path):
            yield inventory.diagnostic(use.kind, use.name, (use.field, "sops"),
                                       f"{use.file} points outside the inventory folder",
                                       code="secret-file")
            continue
        found = _file_diagnostic(inventory, use, files.get(path))
        if found is not None:
            yield found
    yield from _stray_files(inventory, files)


def _stray_files(inventory: Inventory, files: FileCache) -> Iterator[Diagnostic]:
    """Files under secrets/ that nothing references are still checked for plaintext."""
    folder = inventory.root / SECRETS_FOLDER
    if not folder.is_dir():
        return
    referenced = {inventory.root / use.file for use in _uses(inventory)}
    for path in sorted(folder.rglob("*")):
        if path in referenced or path.suffix not in (".yaml", ".yml", ".json"):
            continue
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        found = files.get(path)
        if found.problem is not None:
            yield Diagnostic(display_path(path), 1, 1, "", found.problem, Severity.ERROR,
                             "secret-file", "encrypt it with sops, or delete it")


def _files(inventory: Inventory) -> FileCache:
    # One inspection of each file per inventory, shared by the rules of one validate run;
    # of an inventory loaded beside another (`plan --base`), none of a file of the same
    # bytes already inspected there.
    return inventory.derived("secrets.files", _new_cache)


def _new_cache(inventory: Inventory) -> FileCache:
    earlier = inventory.earlier
    if earlier is None:
        return FileCache()
    # Only what the other inventory's run found already: its own rules may have refused
    # to read a file (a link out of its folder).
    before: FileCache = earlier.previous.computed("secrets.files") or FileCache()

    def inspected(path: Path) -> SopsFile | None:
        same = earlier.same_file(inventory, path)
        return before.known(same) if same is not None else None

    return FileCache(inspected)


def _uses(inventory: Inventory) -> list[SecretUse]:
    # Placement over every application is the costly part: computed once per inventory.
    return inventory.derived("secrets.uses", secret_uses)


@rule("secret-recipients")
def secret_recipients(inventory: Inventory) -> Iterator[Diagnostic]:
    files = _files(inventory)
    uses = _uses(inventory)
    yield from _hosts_without_recipient(inventory, uses)
    reported: set[tuple[str, str]] = set()
    for use in uses:
        found = files.get(inventory.root / use.file)
        if not found.ok:
            continue  # reported by secret-file
        for reader in use.readers:
            if reader.recipient in found.recipients or (use.file, reader.recipient) in reported:
                continue
            reported.add((use.file, reader.recipient))
            yield inventory.diagnostic(
                use.kind, use.name, (use.field, "sops"),
                f"{reader.who} cannot decrypt {use.file}: its recipient is missing",
                code="secret-recipient", hint="run `hznctl secrets sync`")
    yield from _extra_recipients(inventory, uses, files)
    yield from _runner_without_key(inventory, uses)


def _hosts_without_recipient(inventory: Inventory, uses: list[SecretUse]
                             ) -> Iterator[Diagnostic]:
    seen: set[str] = set()
    for use in uses:
        for host in use.hosts_without_recipient:
            if host in seen:
                continue
            seen.add(host)
            yield inventory.diagnostic(
                "host", host, ("name",),
                f"host {host} runs workers using connection {use.name} (password in "
                f"{use.file}) but has no age_recipient, so it cannot decrypt it",
                code="secret-recipient",
                hint=f"run `hznctl secrets keygen --host {host} --out {host}.agekey --write` "
                f"(then install {host}.agekey on the host as its supervisord.age_key_file), "
                "then `hznctl secrets sync`")


def _extra_recipients(inventory: Inventory, uses: list[SecretUse], files: FileCache
                      ) -> Iterator[Diagnostic]:
    needed = readers_by_file(uses)
    first_use: dict[str, SecretUse] = {}
    for use in uses:
        first_use.setdefault(use.file, use)
    for file, readers in needed.items():
        found = files.get(inventory.root / file)
        if not found.ok:
            continue
        use = first_use[file]
        for recipient in sorted(found.recipients - set(readers)):
            yield inventory.diagnostic(
                use.kind, use.name, (use.field, "sops"),
                f"{file} can still be read by {describe_recipient(inventory, recipient)} "
                f"({recipient}), which runs nothing that needs it",
                severity=Severity.WARNING, code="secret-extra-recipient",
                hint="run `hznctl secrets sync` to remove it, then rotate the secret "
                "(`hznctl secrets rotate`) if that key should no longer know it")


def _runner_without_key(inventory: Inventory, uses: list[SecretUse]) -> Iterator[Diagnostic]:
    if not uses or inventory.project is None or inventory.project.health.recipients:
        return
    yield inventory.diagnostic(
        "project", "project", ("health",),
        f"{HEALTH_RUNNER} has no age recipient, so it cannot read any connection password",
        severity=Severity.WARNING, code="secret-recipient",
        hint="run `hznctl secrets keygen --runner --out .hznctl/health-runner.agekey --write`")
