"""The semantic change set between two inventories: objects and fields, not lines.

An object is added, changed (with the fields that changed), removed, or renamed (a removed
and an added object of one kind whose content is the same but for the name). Fields are
dotted paths in which list items that have a name are named, not numbered:
``workers[payments].max_processes``, ``connections[redis-main].priority``. A SOPS file is
a ``secrets`` change that belongs to the objects that reference it: a rotated password is
a change of ``password`` in that connection's secret file.

Files that cannot be read as objects (broken YAML, stray files) are compared as bytes, so
that no change escapes the check.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from hznctl.errors import no_inventory
from hznctl.inventory import is_sensitive
from hznctl.policy.snapshot import (
    MISSING,
    SECRET_FOLDER,
    Snapshot,
    classify,
    git_snapshot,
    name_field,
    read_snapshot,
    worktree_changes,
)
from hznctl.yamlio import Document

__all__ = ["MISSING", "SECRET_FOLDER", "FieldChange", "ObjectChange", "Snapshot", "compare",
           "read_snapshot"]

ENCRYPTED = "(encrypted)"
WHOLE_FILE = "(file)"  # the path of a change to a file that is not read field by field
HIDDEN = "(hidden)"

# Inventory kinds in the policy's words; kinds this module does not know count as project.
POLICY_KIND = {
    "project": "project", "policy": "policy", "application": "applications",
    "connection": "connections", "host": "hosts", "notification": "notifications",
    "secret": "secrets", "file": "project",
}
KIND_ORDER = ("project", "policy", "application", "connection", "host", "notification",
              "secret", "file")
KIND_WORD = {"application": "application", "connection": "connection", "host": "host",
             "notification": "notification channel", "secret": "secret file",
             "project": "project", "policy": "policy", "file": "file"}
# Keys that name the items of a list of mappings (worker groups, connection bindings).
_ITEM_KEYS = ("name", "connection", "slug", "key", "recipient")


@dataclass(frozen=True)
class FieldChange:
    """One field of an object: its old and new value (MISSING when absent) and its place."""

    path: str
    old: Any = MISSING
    new: Any = MISSING
    line: int = 1
    col: int = 1

    @property
    def action(self) -> str:
        if self.old is MISSING:
            return "add"
        return "remove" if self.new is MISSING else "change"

    def text(self) -> str:
        if self.path == WHOLE_FILE:
            return "the file changed (it cannot be compared field by field)"
        if self.old is MISSING:
            return f"{self.path} = {show(self.new)} (added)"
        if self.new is MISSING:
            return f"{self.path} (removed, was {show(self.old)})"
        return f"{self.path}: {show(self.old)} → {show(self.new)}"

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.path, "action": self.action,
                "old": None if self.old is MISSING else self.old,
                "new": None if self.new is MISSING else self.new}


@dataclass(frozen=True)
class ObjectChange:
    """One object added, changed, removed or renamed, with where it is and what it touches."""

    kind: str  # inventory kind: application, connection, …, secret, file
    name: str  # object name; for a secret file or another file, its path in the inventory
    action: str  # add | change | remove | rename
    file: str
    line: int = 1
    col: int = 1
    fields: tuple[FieldChange, ...] = ()
    old_name: str | None = None
    environments: tuple[str, ...] = ()  # empty: the object belongs to no one environment
    applications: tuple[str, ...] = ()
    used_by: tuple[str, ...] = ()  # a secret file's objects, e.g. "connection redis-main"

    @property
    def policy_kind(self) -> str:
        return POLICY_KIND.get(self.kind, "project")

    @property
    def subject(self) -> str:
        word = KIND_WORD.get(self.kind, self.kind)
        if self.kind in ("project", "policy"):
            return word
        used = f" (of {', '.join(self.used_by)})" if self.used_by else ""
        return f"{word} {self.name}{used}"

    def text(self) -> str:
        if self.action == "rename":
            return f"renamed {KIND_WORD.get(self.kind, self.kind)} {self.old_name} → {self.name}"
        verb = {"add": "added", "change": "changed", "remove": "removed"}[self.action]
        return f"{verb} {self.subject}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "policy_kind": self.policy_kind, "name": self.name,
            "old_name": self.old_name, "action": self.action, "file": self.file,
            "line": self.line, "col": self.col, "environments": list(self.environments),
            "applications": list(self.applications), "used_by": list(self.used_by),
            "fields": [f.as_dict() for f in self.fields],
        }


def show(value: Any) -> str:
    """A value on one line, as a changelog shows it."""
    if value is MISSING:
        return "(unset)"
    if isinstance(value, str) and value and value.strip() == value and "\n" not in value \
            and len(value) <= 80:
        return value
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same type all the way down (1, 1.0 and true differ in YAML)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _masked(parts: Sequence[str | int], value: Any) -> Any:
    # The inventory never holds a secret once valid; a pull request may still try to add
    # one, and then neither the check nor the log may repeat it.
    if isinstance(value, str) and is_sensitive(parts) and parts and parts[-1] not in (
        "sops", "key"
    ):
        return HIDDEN
    return value


def _item_key(old: list[Any], new: list[Any]) -> str | None:
    """The key that names every item of both lists, if there is one."""
    items = [*old, *new]
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in _ITEM_KEYS:
        for side in (old, new):
            names = [i.get(key) for i in side]
            if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
                break
        else:
            return key
    return None


@dataclass
class _FieldDiff:
    new_doc: Document | None
    out: list[FieldChange] = field(default_factory=list)

    def emit(self, shown: str, doc_parts: Sequence[str | int], old: Any, new: Any,
             mask_parts: Sequence[str | int]) -> None:
        line, col = self.new_doc.locate(doc_parts) if self.new_doc else (1, 1)
        self.out.append(FieldChange(shown, _masked(mask_parts, old), _masked(mask_parts, new),
                                    line, col))

    def walk(self, old: Any, new: Any, shown: str, parts: tuple[str | int, ...],
             names: tuple[str | int, ...]) -> None:
        if _same(old, new):
            return
        if isinstance(old, dict) and isinstance(new, dict):
            for key in [*new, *(k for k in old if k not in new)]:
                child = f"{shown}.{key}" if shown else str(key)
                self.walk(old.get(key, MISSING), new.get(key, MISSING), child,
                          (*parts, key), (*names, key))
            return
        if isinstance(old, list) and isinstance(new, list):
            key = _item_key(old, new)
            if key is not None:
                self._walk_named(old, new, key, shown, parts, names)
                return
        self.emit(shown, parts, old, new, names)

    def _walk_named(self, old: list[Any], new: list[Any], key: str, shown: str,
                    parts: tuple[str | int, ...], names: tuple[str | int, ...]) -> None:
        old_by = {item[key]: item for item in old}
        new_at = {item[key]: index for index, item in enumerate(new)}
        for name in [*new_at, *(n for n in old_by if n not in new_at)]:
            at: tuple[str | int, ...] = (*parts, new_at[name]) if name in new_at else parts
            before = old_by.get(name, MISSING)
            after = new[new_at[name]] if name in new_at else MISSING
            self.walk(before, after, f"{shown}[{name}]", at, (*names, name))


def diff_fields(old: Any, new: Any, new_doc: Document | None) -> tuple[FieldChange, ...]:
    """Every field that differs between two documents' data, located in the new one."""
    differ = _FieldDiff(new_doc)
    differ.walk(old, new, "", (), ())
    return tuple(differ.out)


def environments_of(kind: str, data: Any) -> tuple[str, ...] | None:
    """The environments an object belongs to; None when it belongs to every one or none."""
    if not isinstance(data, dict):
        return None
    if kind == "notification":
        envs = data.get("environments")
        if isinstance(envs, list) and envs and all(isinstance(e, str) for e in envs):
            return tuple(sorted(set(envs)))
        return None
    env = data.get("environment")
    return (env,) if isinstance(env, str) else None


def union_scope(*scopes: tuple[str, ...] | None) -> tuple[str, ...]:
    """Environments of a change; () when one side belongs to no single environment."""
    found: set[str] = set()
    for scope in scopes:
        if scope is None:
            return ()
        found.update(scope)
    return tuple(sorted(found))


def _secret_refs(data: Any) -> list[str]:
    """Files named by secret references ({sops, key}) anywhere in a document."""
    found: list[str] = []
    stack = [data]
    while stack:  # iterative: every document of a large inventory passes through here
        node = stack.pop()
        if isinstance(node, dict):
            sops = node.get("sops")
            if len(node) == 2 and isinstance(sops, str) and "key" in node:
                found.append(PurePosixPath(sops).as_posix())
                continue
            stack.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))
    return found


@dataclass
class SecretUsers:
    """Which objects reference each secret file, and their environments."""

    objects: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    scopes: dict[str, list[tuple[str, ...] | None]] = field(default_factory=dict)

    def scan(self, snapshot: Snapshot, files: Iterable[str] | None = None) -> None:
        """Find the objects that reference ``files`` (any secret file when None).

        Only objects whose text names one of ``files`` are parsed: a commit rotating one
        password reads one connection, not the inventory.
        """
        wanted = None if files is None else set(files)
        named = None if wanted is None else snapshot.naming([f.encode() for f in wanted])
        for relative in snapshot.files:
            kind, name = classify(relative, set())
            if kind in ("secret", "file") or (named is not None and relative not in named):
                continue
            data = snapshot.data(relative)
            for ref in _secret_refs(data):
                if wanted is None or ref in wanted:
                    self.objects.setdefault(ref, set()).add((kind, name))
                    self.scopes.setdefault(ref, []).append(environments_of(kind, data))


def _locate(snapshot: Snapshot, kind: str, relative: str) -> tuple[int, int]:
    doc = snapshot.document(relative)
    if doc is None or not isinstance(doc.data, dict):
        return 1, 1
    return doc.locate((name_field(kind),))


def _object_change(old: Snapshot, new: Snapshot, kind: str, name: str,
                   relative: str) -> ObjectChange | None:
    before, after = old.data(relative), new.data(relative)
    applications = (name,) if kind == "application" else ()
    if relative not in new.files:
        line, col = _locate(old, kind, relative)
        return ObjectChange(kind, name, "remove", old.shown(relative), line, col,
                            environments=union_scope(environments_of(kind, before)),
                            applications=applications)
    line, col = _locate(new, kind, relative)
    if relative not in old.files:
        return ObjectChange(kind, name, "add", new.shown(relative), line, col,
                            environments=union_scope(environments_of(kind, after)),
                            applications=applications)
    if isinstance(before, dict) and isinstance(after, dict):
        fields = diff_fields(before, after, new.document(relative))
    else:  # not (or no longer) readable as an object: the whole file changed
        fields = (FieldChange(WHOLE_FILE),)
    if not fields:
        return None
    return ObjectChange(kind, name, "change", new.shown(relative), fields[0].line,
                        fields[0].col, fields=fields,
                        environments=union_scope(environments_of(kind, before),
                                                 environments_of(kind, after)),
                        applications=applications)


def _secret_fields(old: Snapshot, new: Snapshot, relative: str) -> tuple[FieldChange, ...]:
    before, after = old.document(relative), new.document(relative)
    if before is None or after is None or not isinstance(before.data, dict) or not isinstance(
        after.data, dict
    ):
        return (FieldChange(WHOLE_FILE, ENCRYPTED, ENCRYPTED),)
    return _sops_fields(before.data, after.data, after)


def _sops_fields(before: dict[str, Any], after: dict[str, Any],
                 doc: Document) -> tuple[FieldChange, ...]:
    """The values that changed (never shown), and the recipients when they changed."""
    fields: list[FieldChange] = []
    for key in [*after, *(k for k in before if k not in after)]:
        if key == "sops":
            continue
        old_value, new_value = before.get(key, MISSING), after.get(key, MISSING)
        if not _same(old_value, new_value):
            line, col = doc.locate((key,))
            fields.append(FieldChange(
                str(key), MISSING if old_value is MISSING else ENCRYPTED,
                MISSING if new_value is MISSING else ENCRYPTED, line, col))
    old_keys, new_keys = _recipients(before), _recipients(after)
    if old_keys != new_keys:
        line, col = doc.locate(("sops",))
        fields.append(FieldChange("recipients", old_keys, new_keys, line, col))
    return tuple(fields) or (FieldChange("sops", ENCRYPTED, ENCRYPTED, *doc.locate(("sops",))),)


def _recipients(data: dict[str, Any]) -> list[str]:
    sops = data.get("sops")
    entries = sops.get("age") if isinstance(sops, dict) else None
    if not isinstance(entries, list):
        return []
    return sorted(str(e.get("recipient")) for e in entries if isinstance(e, dict))


def _secret_change(old: Snapshot, new: Snapshot, relative: str,
                   users: SecretUsers) -> ObjectChange:
    used_by = tuple(f"{KIND_WORD.get(k, k)} {n}" for k, n in
                    sorted(users.objects.get(relative, set())))
    environments = union_scope(*(users.scopes.get(relative) or [None]))
    if relative not in new.files:
        return ObjectChange("secret", relative, "remove", old.shown(relative),
                            environments=environments, used_by=used_by)
    if relative not in old.files:
        return ObjectChange("secret", relative, "add", new.shown(relative),
                            environments=environments, used_by=used_by)
    fields = _secret_fields(old, new, relative)
    return ObjectChange("secret", relative, "change", new.shown(relative), fields[0].line,
                        fields[0].col, fields=fields, environments=environments,
                        used_by=used_by)


def _renames(changes: list[ObjectChange], old: Snapshot, new: Snapshot,
             paths: dict[tuple[str, str], str]) -> list[ObjectChange]:
    """Pair each removed object with an added one of the same kind and content."""
    removed = [c for c in changes if c.action == "remove" and c.kind not in ("secret", "file")]
    added = [c for c in changes if c.action == "add" and c.kind not in ("secret", "file")]
    out = list(changes)
    for gone in removed:
        content = _without_name(gone.kind, old.data(paths[gone.kind, gone.name]))
        for fresh in added:
            if fresh.kind != gone.kind or fresh not in out or content is None:
                continue
            if _same(content, _without_name(fresh.kind, new.data(paths[fresh.kind,
                                                                        fresh.name]))):
                out.remove(gone)
                out[out.index(fresh)] = ObjectChange(
                    fresh.kind, fresh.name, "rename", fresh.file, fresh.line, fresh.col,
                    old_name=gone.name,
                    environments=union_scope(gone.environments or None,
                                             fresh.environments or None),
                    applications=tuple(sorted({*gone.applications, *fresh.applications})),
                )
                break
    return out


def _without_name(kind: str, data: Any) -> dict[str, Any] | None:
    if not isinstance(data, dict):
        return None
    return {k: v for k, v in data.items() if k != name_field(kind)}


def changed_files(old: Snapshot, new: Snapshot, only: Iterable[str] | None = None) -> list[str]:
    """Files added, removed, or whose bytes differ (among ``only``, when given)."""
    paths = sorted({*old.files, *new.files} if only is None else set(only))
    if type(old) is type(new):  # the same way of telling versions apart on both sides
        return [p for p in paths if old.identity(p) != new.identity(p)]
    return [p for p in paths if old.raw(p) != new.raw(p)]


def compare(old: Snapshot, new: Snapshot, only: Iterable[str] | None = None) -> (
    list[ObjectChange]
):
    """Every change from ``old`` to ``new``, in a stable order (kind, then name).

    ``only``: the files that may differ, when something (git) already knows them.
    """
    changed = changed_files(old, new, only)
    candidates = [p for p in changed if classify(p, set())[0] in ("secret", "file")]
    users = SecretUsers()
    if candidates:
        users.scan(old, candidates)
        users.scan(new, candidates)
    paths: dict[tuple[str, str], str] = {}
    for relative in changed:
        paths.setdefault(classify(relative, set(users.objects)), relative)
    changes: list[ObjectChange] = []
    for (kind, name), relative in sorted(paths.items(), key=lambda item: _order(item[0])):
        if kind == "secret":
            changes.append(_secret_change(old, new, relative, users))
        else:
            change = _object_change(old, new, kind, name, relative)
            if change is not None:
                changes.append(change)
    return _renames(changes, old, new, paths)


def _order(key: tuple[str, str]) -> tuple[int, str]:
    kind, name = key
    return (KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER), name)


def changes_since(root: Path, commit: str, label: str) -> tuple[Snapshot, Snapshot,
                                                                list[ObjectChange]]:
    """(snapshot at ``commit``, working tree snapshot, changes) for the folder ``root``."""
    if not root.is_dir():
        raise no_inventory(str(root))
    old, new = git_snapshot(root, commit, label), read_snapshot(root, label)
    return old, new, compare(old, new, worktree_changes(root, commit))
