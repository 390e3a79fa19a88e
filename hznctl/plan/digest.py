"""What each host's bundle is made from: `plan --base` compiles a host only when that
differs between the two revisions (``alike_hosts``).

A host's inputs are everything that can reach its bundle, by content: its own host file;
each application placed on it and which of its worker groups are (an application whose
file differs between the two sides as its typed value, which is all the build reads,
without its worker groups but with those placed there: an edit of one worker group
compiles only the hosts it runs on); the files of the connections those applications
name, and the SOPS files those connections read. Every other file of the inventory
(project.yaml and its defaults, policy, notifications, templates, secret files no
connection reads, anything unknown) is *global*: it is an input of every host, so
changing it compiles every host. A file is attributed to one object only where the loader
reads it as that object (``<kind>/<name>.yaml|yml``); when in doubt a file is global.
Equal inputs make equal bundles but for the revision they name — the plan says so
without building either. Files are compared by their git blob ids.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hznctl.compile.programs import group_name
from hznctl.gitrev import LocalFile
from hznctl.inventory import Inventory
from hznctl.placement import PlacedGroup
from hznctl.readfile import blob_id, read_regular
from hznctl.runtimes import runtime_spec

# Folders whose `<name>.yaml` files the loader reads as one object each (inventory.KINDS).
_ATTRIBUTED = {"applications": "application", "connections": "connection", "hosts": "host"}
_SUFFIXES = (".yaml", ".yml")


_FOLDERS = {kind: folder for folder, kind in _ATTRIBUTED.items()}


@dataclass(frozen=True)
class InputFiles:
    """The inventory's files by content: attributed to an object, or global."""

    files: Mapping[str, str]  # relative path -> git blob id of every regular file
    # The files that are regular files here, not links: what a copy of another revision
    # may take instead of reading them from git (gitrev.copy_revision).
    local: Mapping[str, LocalFile] = field(default_factory=dict)

    def digest(self, kind: str, name: str) -> str:
        """What the object ``name`` of ``kind`` is read from: its file's blob id (both
        files', for a ``.yaml`` and a ``.yml`` of one name; "" for none)."""
        folder = _FOLDERS[kind]
        files = self.files
        return "/".join(files.get(f"{folder}/{name}{suffix}", "") for suffix in _SUFFIXES)


# What stands for a file that cannot be read: never a blob id (those are hex).
_UNREADABLE = "unreadable"


def read_inputs(root: Path, read: Mapping[str, str] | None = None) -> InputFiles:
    """Every regular file under ``root`` (links followed, as the loader follows them), by
    content: the blob id git gives its bytes, so that a file can be matched with its
    blob at another revision without reading that. ``read``: the blob ids of files
    already read (path as ``root / …`` gives it -> blob id; the documents of the
    validation being planned), taken as they are rather than read again."""
    read = read or {}
    files: dict[str, str] = {}
    local: dict[str, LocalFile] = {}
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs.sort()
        prefix = os.path.relpath(folder, root).replace(os.sep, "/") + "/"
        if prefix == "./":
            prefix = ""
        for name in sorted(names):
            path = os.path.join(folder, name)
            rel = prefix + name
            known = read.get(path)
            if known is not None:
                files[rel] = known
            else:
                try:  # never blocking on a FIFO nor reading a device
                    files[rel] = blob_id(read_regular(path, sys.maxsize))
                except OSError:  # a dangling link, a folder link, not a regular file:
                    files[rel] = _UNREADABLE  # reported by validate
                    continue
            if not os.path.islink(path):
                local[rel] = LocalFile(path, files[rel])
    return inputs_of(files, local)


def inputs_of(files: Mapping[str, str], local: Mapping[str, LocalFile] | None = None
              ) -> InputFiles:
    """The inputs of an inventory of ``files`` (relative path -> blob id)."""
    return InputFiles(dict(files), dict(local or {}))


def _connections_of(inventory: Inventory, slug: str) -> set[str]:
    app = inventory.applications.get(slug)
    if app is None:
        return set()
    named = {c.connection for c in app.connections}
    named.update(w.connection for w in app.workers if w.connection)
    return named


@dataclass(frozen=True)
class Side:
    """One revision of a plan: its inventory, its files by content and what each of its
    hosts runs (``placement.groups_by_host``)."""

    inventory: Inventory
    inputs: InputFiles
    placed: Mapping[str, list[PlacedGroup]]

    def secrets(self) -> dict[str, str]:
        """Connection -> the SOPS file its password is in."""
        return {name: c.password.sops for name, c in self.inventory.connections.items()
                if c.password is not None}

    def common(self, secrets: Iterable[str]) -> dict[str, str]:
        """Every file not attributed to an object (nor a connection's secret): global."""
        attributed = set(secrets)
        return {rel: sha for rel, sha in self.inputs.files.items()
                if rel not in attributed and not _attributed(rel)}


def _attributed(rel: str) -> bool:
    """Whether the loader reads ``rel`` as one object (``<kind>/<name>.yaml|yml``; it
    skips hidden files)."""
    folder, _, name = rel.partition("/")
    return (folder in _ATTRIBUTED and "/" not in name and name.endswith(_SUFFIXES)
            and not name.startswith("."))


def alike_hosts(new: Side, old: Side, hosts: Iterable[str], edited: Collection[str]
                ) -> set[str]:
    """Of ``hosts`` (names in both sides' ``placed``), those whose bundle is made from the
    same inputs on both sides. ``edited``: the applications whose file differs between
    the two (the same for both).

    A host's inputs are its file, every global file, which worker groups of which
    applications it runs, each of those applications with its connections and their
    secrets (an application of the same file by its file; an edited one as its typed
    value without its worker groups) and, of an edited application, each of its groups
    placed there as its typed value: an edit of one worker group compiles only the hosts
    it runs on. What the two sides hold alike is not looked at again."""
    new_secrets, old_secrets = new.secrets(), old.secrets()
    if new.common(new_secrets.values()) != old.common(old_secrets.values()):
        return set()  # project.yaml, templates, …: every host's inputs differ

    def connection(side: Side, secrets: dict[str, str], name: str) -> tuple[str, ...]:
        secret = secrets.get(name)
        return (side.inputs.digest("connection", name), secret or "",
                side.inputs.files.get(secret, "") if secret is not None else "")

    moved = {name for name in new_secrets.keys() | old_secrets.keys()
             | new.inventory.connections.keys() | old.inventory.connections.keys()
             if connection(new, new_secrets, name) != connection(old, old_secrets, name)}
    # Applications whose own part differs: edited (as typed values), or of the same file
    # but naming a connection whose file or secret differs.
    differ: set[str] = set()
    for slug in edited:
        if _application_value(new, slug) != _application_value(old, slug) or (
                _connections_of(new.inventory, slug) & moved
                or _connections_of(old.inventory, slug) & moved):
            differ.add(slug)
    if moved:
        for side in (new, old):
            differ.update(slug for slug in side.inventory.applications
                          if _connections_of(side.inventory, slug) & moved)
    workers: dict[tuple[str, str], bool] = {}

    def same_worker(slug: str, name: str) -> bool:
        key = (slug, name)
        if key not in workers:
            workers[key] = _worker_value(new.inventory, slug, name) == _worker_value(
                old.inventory, slug, name)
        return workers[key]

    alike = set()
    for host in hosts:
        placed = new.placed[host]
        # The same groups placed (most often the very same objects: cheap to compare).
        if (new.inputs.digest("host", host) != old.inputs.digest("host", host)
                or placed != old.placed[host]):
            continue
        if any(item.application in differ or (item.application in edited
                                              and not same_worker(item.application,
                                                                  item.worker))
               for item in placed):
            continue
        alike.add(host)
    return alike


def _application_value(side: Side, slug: str) -> str | None:
    app = side.inventory.applications.get(slug)
    return None if app is None else app.model_dump_json(exclude={"workers"})


def _worker_value(inventory: Inventory, slug: str, name: str) -> str:
    worker = next(w for w in inventory.applications[slug].workers if w.name == name)
    return worker.model_dump_json()


# What a worker group adds to its host's program groups: its own group, its application's
# pool (a Horizon application's workers share one), or nothing (no process, or neither).
_POOL = object()


def _groups_of(inventory: Inventory) -> dict[tuple[str, str], str | object | None]:
    """(application, worker group name) -> the group it runs in, ``_POOL``, or None; for
    a repeated name (an error validate reports), the last group of that name."""
    found: dict[tuple[str, str], str | object | None] = {}
    for slug, app in inventory.applications.items():
        spec = runtime_spec(app.runtime)
        for worker in app.workers:
            group: str | object | None = None
            if worker.kind == "scheduler" or not spec.per_application:
                if worker.max_processes > 0:
                    group = group_name(app, worker)
            elif worker.kind == "worker":
                group = _POOL
            found[slug, worker.name] = group
    return found


def group_names(inventory: Inventory, placed: list[PlacedGroup]) -> list[str]:
    """The program groups a host's bundle holds for ``placed``, sorted, as
    ``HostCompiler.programs`` makes them (a Horizon application's workers share one group;
    a scheduler and every other runtime's worker group have one each, if they run any
    process)."""
    groups = inventory.derived("plan.groups_of", _groups_of)
    names: list[str] = []
    pooled: dict[str, None] = {}
    for item in placed:
        group = groups[item.application, item.worker]
        if group is _POOL:
            pooled[item.application] = None
        elif isinstance(group, str):
            names.append(group)
    names += [group_name(inventory.applications[slug], None) for slug in pooled]
    return sorted(names)
