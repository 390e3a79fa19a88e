"""What each host's bundle is made from, as one digest: `plan --base` compiles a host only
when its digest differs between the two revisions.

A host's digest covers everything that can reach its bundle, by content: its own host
file; each application placed on it and which of its worker groups are (an application
whose file differs between the two sides as its typed value, which is all the build
reads, without its worker groups but with those placed there: an edit of one worker group
compiles only the hosts it runs on); the files of the connections those applications
name, and the SOPS files those connections read. Every
other file of the inventory (project.yaml and its defaults, policy, notifications,
templates, secret files no connection reads, anything unknown) is *global*: it is in
every host's digest, so changing it compiles every host. A file is attributed to one
object only where the loader reads it as that object (``<kind>/<name>.yaml|yml``); when in
doubt a file is global. Equal digests mean equal inputs, so equal bundles but for the
revision they name — the plan says so without building either.
"""

from __future__ import annotations

import hashlib
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


@dataclass(frozen=True)
class InputFiles:
    """The inventory's files by content: attributed to an object, or global."""

    objects: Mapping[tuple[str, str], str]  # (kind, name) -> digest of its file(s)
    files: Mapping[str, str]  # relative path -> git blob id of every regular file
    # The files that are regular files here, not links: what a copy of another revision
    # may take instead of reading them from git (gitrev.copy_revision).
    local: Mapping[str, LocalFile] = field(default_factory=dict)

    def digest(self, kind: str, name: str) -> str:
        return self.objects.get((kind, name), "")


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
    objects: dict[tuple[str, str], str] = {}
    for rel, sha in sorted(files.items()):
        folder, _, name = rel.partition("/")
        stem, suffix = os.path.splitext(name)
        if folder in _ATTRIBUTED and "/" not in name and suffix in _SUFFIXES:
            key = (_ATTRIBUTED[folder], stem)
            objects[key] = _join([objects.get(key, ""), rel, sha])
    return InputFiles(objects, dict(files), dict(local or {}))


def _join(parts: Iterable[str]) -> str:
    """One digest of the parts, each ended by NUL (no part holds one: names, paths, JSON
    and hex digests)."""
    return hashlib.sha256(("\0".join(parts) + "\0").encode("utf-8", "surrogateescape")
                          ).hexdigest()


def _connections_of(inventory: Inventory, slug: str) -> set[str]:
    app = inventory.applications[slug]
    named = {c.connection for c in app.connections}
    named.update(w.connection for w in app.workers if w.connection)
    return named


def host_digests(inventory: Inventory, inputs: InputFiles,
                 placed: Mapping[str, list[PlacedGroup]], hosts: Iterable[str],
                 edited: Collection[str] = ()) -> dict[str, str]:
    """The input digest of each of ``hosts`` (names in ``placed``). ``edited``: the
    applications whose file differs between the two sides compared (the same for both):
    those are digested as typed values, worker group by worker group, the others by
    their file (the same bytes and project.yaml make the same typed value, and cost no
    serialising)."""
    attributed: set[str] = set()
    secret_of: dict[str, str] = {}
    for name, connection in inventory.connections.items():
        if connection.password is not None:
            secret_of[name] = connection.password.sops
    for rel in inputs.files:
        folder, _, name = rel.partition("/")
        if folder in _ATTRIBUTED and "/" not in name and os.path.splitext(name)[1] in _SUFFIXES:
            attributed.add(rel)
    attributed.update(p for p in secret_of.values() if p in inputs.files)
    common = _join(f"{rel}={sha}" for rel, sha in sorted(inputs.files.items())
                   if rel not in attributed)
    # Each application's part once, its connections' and their secrets' with it: a host's
    # inputs change exactly when its file, a global file, one of its applications (or
    # their connections) or, of an edited application, a group placed on it changes.
    app_parts: dict[str, str] = {}
    workers_seen: dict[tuple[str, str], str] = {}

    def application(slug: str) -> str:
        found = app_parts.get(slug)
        if found is None:
            parts = ["application", slug,
                     inventory.applications[slug].model_dump_json(exclude={"workers"})
                     if slug in edited else inputs.digest("application", slug)]
            for name in sorted(_connections_of(inventory, slug)):
                parts += ["connection", name, inputs.digest("connection", name)]
                secret = secret_of.get(name)
                if secret is not None:
                    parts += ["secret", secret, inputs.files.get(secret, "")]
            found = app_parts[slug] = _join(parts)
        return found

    digests = {}
    for host in hosts:
        parts = ["host", host, common, inputs.digest("host", host)]
        for item in placed[host]:
            if item.application not in edited:
                # Which of its groups land here follows from its file and the host's.
                continue
            key = (item.application, item.worker)
            if key not in workers_seen:
                workers_seen[key] = _worker_value(inventory, *key)
            parts += ["worker", *key, workers_seen[key]]
        parts += [application(slug) for slug in sorted({p.application for p in placed[host]})]
        digests[host] = _join(parts)
    return digests


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
