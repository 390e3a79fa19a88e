"""The reach of a change: every environment an inventory change touches, and why.

An object's own ``environment`` is only where a change starts. What it reaches, judged at
the base and at the head of the change (docs/policy.md has worked examples):

* an application: its environment and ``allow_environments``; the environments of every
  host its worker groups are placed on; of every connection it binds;
* a connection: its environment; the applications that bind it and the hosts their
  worker groups that use it run on;
* a host: its environment; the applications whose worker groups its name or labels pull
  onto it;
* a secret file: everything the objects that refer to it reach;
* a notification channel: its environments (none listed: every environment);
* the project, the policy, and files that are no object: every environment.

A new or changed secret reference (``{sops: file, key: …}``) is also a change to that
secret file, located at the reference: pointing a staging connection at the production
password is a change to the production secret.

The view is read from the raw documents of both snapshots, so a broken file still has a
reach (its kind's, in every environment, when nothing can be read from it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

from hznctl.diagnostics import format_path
from hznctl.policy.changes import (
    KIND_WORD,
    FieldChange,
    ObjectChange,
    SecretUsers,
    environments_of,
)
from hznctl.policy.snapshot import Snapshot, classify

__all__ = ["Reach", "World", "with_reach"]

EVERY = None  # a reach of every environment


@dataclass
class Reach:
    """Environments a change reaches, each with the first reason found (own: no reason)."""

    every: bool = False
    environments: dict[str, str] = field(default_factory=dict)

    def add(self, environment: Any, why: str = "") -> None:
        if isinstance(environment, str) and environment not in self.environments:
            self.environments[environment] = why

    def own(self, environment: Any) -> None:
        if isinstance(environment, str):
            self.environments[environment] = ""

    def merge(self, other: Reach) -> None:
        self.every = self.every or other.every
        for environment, why in other.environments.items():
            self.add(environment, why)

    def scope(self) -> tuple[str, ...]:
        return () if self.every else tuple(sorted(self.environments))

    def reasons(self) -> tuple[tuple[str, str], ...]:
        if self.every:
            return ()
        return tuple(sorted((e, w) for e, w in self.environments.items() if w))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class _Host:
    name: str
    environment: str | None
    labels: dict[str, Any]
    active: bool


class World:
    """One side of a change (base or head): hosts, applications and connections by name."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._hosts: dict[str, _Host] | None = None
        self._index: dict[tuple[str, str], str] | None = None
        self._by_kind: dict[str, list[str]] = {}
        self._default_labels: dict[str, Any] | None = None
        self._users: dict[str, SecretUsers] = {}

    @property
    def index(self) -> dict[tuple[str, str], str]:
        """(kind, name) -> file; the first of name.yaml and name.yml, as validate reads."""
        if self._index is None:
            self._index = {}
            for relative in sorted(self.snapshot.files):
                kind, name = classify(relative, set())
                self._index.setdefault((kind, name), relative)
                self._by_kind.setdefault(kind, []).append(relative)
        return self._index

    def files_in(self, kind: str) -> list[str]:
        self.index  # noqa: B018 - built on first use
        return self._by_kind.get(kind, [])

    def data(self, kind: str, name: str) -> dict[str, Any] | None:
        relative = self.index.get((kind, name))
        found = self.snapshot.data(relative) if relative is not None else None
        return found if isinstance(found, dict) else None

    @property
    def hosts(self) -> dict[str, _Host]:
        if self._hosts is None:
            files = self.files_in("host")
            prefetch = getattr(self.snapshot, "prefetch", None)
            if prefetch is not None:
                prefetch(files)
            self._hosts = {}
            for relative in files:
                name = classify(relative, set())[1]
                data = _dict(self.snapshot.data(relative))
                self._hosts[name] = _Host(name, _str(data.get("environment")),
                                          _dict(data.get("labels")),
                                          data.get("active", True) is not False)
        return self._hosts

    @property
    def default_labels(self) -> dict[str, Any]:
        """Project defaults for worker groups' host_labels (merged into every group)."""
        if self._default_labels is None:
            project = _dict(self.snapshot.data("project.yaml"))
            worker = _dict(_dict(project.get("defaults")).get("worker"))
            self._default_labels = _dict(worker.get("host_labels"))
        return self._default_labels

    def applications(self, naming: Iterable[str] = ()) -> Iterator[tuple[str, dict[str, Any]]]:
        """Applications whose text names one of ``naming`` (every one when empty)."""
        files = self.files_in("application")
        # Every file with a backslash too: an escape in a quoted string can spell any name.
        needles = [n.encode() for n in naming]
        needles += [b"\\"] if needles else []
        if needles and not self.default_labels:
            chosen = self.snapshot.naming(needles)
            files = [f for f in files if f in chosen]
        prefetch = getattr(self.snapshot, "prefetch", None)
        if prefetch is not None:
            prefetch(files)
        for relative in files:
            data = self.snapshot.data(relative)
            if isinstance(data, dict):
                yield classify(relative, set())[1], data

    def placed(self, app: dict[str, Any], worker: dict[str, Any]) -> list[_Host]:
        """The hosts a worker group runs on (``hznctl.placement.hosts_for`` on raw data)."""
        if app.get("active", True) is False or worker.get("active", True) is False:
            return []
        environments = {app.get("environment"), *_list(app.get("allow_environments"))}
        chosen = {n for n in _list(worker.get("hosts")) if isinstance(n, str)
                  and n in self.hosts and self.hosts[n].active}
        selector = {**self.default_labels, **_dict(worker.get("host_labels"))}
        if selector:
            for host in self.hosts.values():
                if host.active and host.environment in environments and all(
                        host.labels.get(k) == v for k, v in selector.items()):
                    chosen.add(host.name)
        return [self.hosts[n] for n in sorted(chosen)]

    def secret_users(self, relative: str) -> set[tuple[str, str]]:
        """(kind, name) of the objects that refer to the secret file ``relative``."""
        if relative not in self._users:
            users = self._users[relative] = SecretUsers()
            users.scan(self.snapshot, [relative])  # only files whose text names it
        return self._users[relative].objects.get(relative, set())


def _workers(app: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for index, worker in enumerate(_list(app.get("workers"))):
        if isinstance(worker, dict):
            yield str(worker.get("name", index)), worker


def _bound(app: dict[str, Any]) -> list[str]:
    names = [_str(_dict(b).get("connection")) for b in _list(app.get("connections"))]
    names += [_str(w.get("connection")) for _, w in _workers(app)]
    return sorted({n for n in names if n})


def _worker_connection(app: dict[str, Any], worker: dict[str, Any]) -> str | None:
    explicit = _str(worker.get("connection"))
    if explicit:
        return explicit
    primaries = [_str(_dict(b).get("connection")) for b in _list(app.get("connections"))
                 if _dict(b).get("primary") is True and _dict(b).get("active", True) is not False]
    return primaries[0] if len(primaries) == 1 else None


def application_reach(world: World, slug: str, app: dict[str, Any], reach: Reach) -> None:
    reach.own(app.get("environment"))
    for other in _list(app.get("allow_environments")):
        reach.add(other, f"application {slug} lists it in allow_environments")
    for name, worker in _workers(app):
        for host in world.placed(app, worker):
            reach.add(host.environment, f"worker group {slug}/{name} runs on host {host.name}")
    for connection in _bound(app):
        data = world.data("connection", connection)
        if data is not None:
            reach.add(data.get("environment"), f"application {slug} binds connection "
                      f"{connection}")


def connection_reach(world: World, name: str, data: dict[str, Any], reach: Reach) -> None:
    reach.own(data.get("environment"))
    connection_users(world, name, reach)


def connection_users(world: World, name: str, reach: Reach) -> None:
    """The applications that bind connection ``name`` and the hosts that use it."""
    for slug, app in world.applications([name]):
        if name not in _bound(app):
            continue
        reach.add(app.get("environment"), f"application {slug} binds connection {name}")
        for worker_name, worker in _workers(app):
            if _worker_connection(app, worker) != name:
                continue
            for host in world.placed(app, worker):
                reach.add(host.environment, f"worker group {slug}/{worker_name} uses "
                          f"connection {name} on host {host.name}")


def host_reach(world: World, name: str, data: dict[str, Any], reach: Reach) -> None:
    reach.own(data.get("environment"))
    # A group pulls the host by its name, or by labels that the host carries: its file
    # names the host or one of its label values (on this side; the other side asks too).
    host = world.hosts.get(name)
    values = [str(v) for v in (host.labels.values() if host else ()) if isinstance(v, str)]
    for slug, app in world.applications([name, *values]):
        for worker_name, worker in _workers(app):
            if any(h.name == name for h in world.placed(app, worker)):
                reach.add(app.get("environment"), f"its name or labels pull worker group "
                          f"{slug}/{worker_name} onto host {name}")


def secret_reach(worlds: Iterable[World], relative: str, reach: Reach, *,
                 own: bool = False) -> None:
    """Everything the objects referring to a secret file reach, at base and head
    (``own``: their environments are the file's own, for a change to the file itself)."""
    for world in worlds:
        for kind, name in sorted(world.secret_users(relative)):
            data = world.data(kind, name)
            word = f"{KIND_WORD.get(kind, kind)} {name}"
            if data is None:
                reach.every = True
                continue
            why = "" if own else f"{relative} is a secret of {word}"
            if kind == "connection":
                reach.add(data.get("environment"), why)
                connection_users(world, name, reach)
            else:
                scope = environments_of(kind, data)
                if scope is None:
                    reach.every = True
                for environment in scope or ():
                    reach.add(environment, why)


_REACHERS = {"application": application_reach, "connection": connection_reach,
             "host": host_reach}


def object_reach(worlds: tuple[World, World], change: ObjectChange,
                 paths: dict[tuple[str, str], list[str]]) -> Reach:
    reach = Reach()
    if change.kind in ("project", "policy", "file"):
        reach.every = True
        return reach
    if change.kind == "secret":
        secret_reach(worlds, change.name, reach, own=True)
        if not reach.environments:
            reach.every = True  # a secret file nothing refers to belongs to no environment
        return reach
    names = [n for n in (change.old_name, change.name) if n]
    for world in worlds:
        for name in names:
            for relative in paths.get((change.kind, name), []):
                if relative not in world.snapshot.files:
                    continue
                data = world.snapshot.data(relative)
                if not isinstance(data, dict):
                    reach.every = True  # nothing can be read from it: it may be anything
                    continue
                reacher = _REACHERS.get(change.kind)
                if reacher is not None:
                    reacher(world, name, data, reach)
                else:
                    scope = environments_of(change.kind, data)
                    if scope is None:
                        reach.every = True
                    for environment in scope or ():
                        reach.own(environment)
    if not reach.environments:
        reach.every = True
    return reach


def _refs(data: Any, parts: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...],
                                                                         str, Any]]:
    """(place, file, key) of every secret reference in a document."""
    if isinstance(data, dict):
        sops = data.get("sops")
        if len(data) == 2 and isinstance(sops, str) and "key" in data:
            yield parts, PurePosixPath(sops).as_posix(), data.get("key")
            return
        for key, value in data.items():
            yield from _refs(value, (*parts, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _refs(value, (*parts, index))


def reference_changes(worlds: tuple[World, World], change: ObjectChange,
                      paths: dict[tuple[str, str], list[str]]) -> list[ObjectChange]:
    """A secret change for every reference the object gains or changes."""
    if change.kind in ("secret", "file") or change.action == "remove":
        return []
    old, new = worlds
    relative = next((r for r in paths.get((change.kind, change.name), [])
                     if r in new.snapshot.files), None)
    if relative is None:
        return []
    doc = new.snapshot.document(relative)
    if doc is None:
        return []
    before: set[tuple[str, Any]] = set()
    for name in (change.old_name, change.name):
        for old_relative in paths.get((change.kind, name or ""), []):
            if old_relative in old.snapshot.files:
                before.update((f, repr(k)) for _, f, k in _refs(old.snapshot.data(old_relative)))
    out = []
    word = f"{KIND_WORD.get(change.kind, change.kind)} {change.name}"
    for parts, file, key in _refs(doc.data):
        if (file, repr(key)) in before:
            continue
        line, col = doc.locate(parts)
        reach = Reach()
        secret_reach(worlds, file, reach)
        for environment in change.environments:  # the referring object's own: ``via`` says
            reach.own(environment)
        shown = format_path(parts)
        users = sorted({f"{KIND_WORD.get(k, k)} {n}" for w in worlds
                        for k, n in w.secret_users(file)} - {word})
        out.append(ObjectChange(
            "secret", file, "change", change.file, line, col,
            fields=(FieldChange(shown, line=line, col=col, new=f"{file} key {key}"),),
            environments=reach.scope(), used_by=tuple(users), reasons=reach.reasons(),
            via=f"{word} refers to {file} in {shown}"))
    return out


def with_reach(old: Snapshot, new: Snapshot, changes: list[ObjectChange]) -> list[ObjectChange]:
    """``changes`` with the environments each reaches, and the secret references they add."""
    worlds = (World(old), World(new))
    paths: dict[tuple[str, str], list[str]] = {}
    for snapshot in (old, new):
        for relative in snapshot.files:
            key = classify(relative, set())
            if relative not in paths.setdefault(key, []):
                paths[key].append(relative)
    out: list[ObjectChange] = []
    for change in changes:
        if change.kind == "secret":
            key = ("secret", change.name)
            paths.setdefault(key, [change.name])
        reach = object_reach(worlds, change, paths)
        grants = change.kind == "host" and change.action in ("add", "rename") and bool(
            _dict(worlds[1].data("host", change.name)).get("privileges"))
        out.append(replace(change, environments=reach.scope(), reasons=reach.reasons(),
                           grants=grants))
        out.extend(reference_changes(worlds, change, paths))
    return out
