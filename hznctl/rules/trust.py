"""Trust boundaries the inventory itself must keep, whoever wrote it.

* a secret file belongs to one environment: objects of another environment may not refer
  to it unless policy.yaml (admin only) declares the sharing in ``shared_secrets`` (a
  webhook that only notification channels use is shared between them freely: a channel
  belongs to no one environment the way a connection does);
* a host name is never one of GitHub's runner labels (the deploy job selects a host's
  runner by ``hznctl-host-<name>``, and a host called ``linux`` must not look like one);
* least privilege: workers do not run as root, and application directories and log
  folders stay under the host's allowed roots, unless the host's ``privileges`` (admin
  only) allow more.
"""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from hznctl.diagnostics import Diagnostic
from hznctl.inventory import Inventory
from hznctl.models import Application
from hznctl.models.host import DEFAULT_ROOTS, Host, HostTarget
from hznctl.models.policy import Policy
from hznctl.placement import worker_hosts
from hznctl.rules import application_rule, rule
from hznctl.rules.common import origin

# GitHub's own self-hosted runner labels, and the labels hznctl's workflows select by.
RUNNER_LABELS = frozenset({"self-hosted", "linux", "windows", "macos", "x64", "arm", "arm64",
                           "hznctl", "hznctl-health"})
RUNNER_LABEL_PREFIX = "hznctl-host-"
EVERY = "(every environment)"


@dataclass(frozen=True)
class _Reference:
    kind: str
    name: str
    parts: tuple[str | int, ...]
    file: str
    scope: tuple[str, ...]  # the object's environments, or (EVERY,)


def _references(data: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """(field path, file) of every secret reference (``{sops: FILE, key: KEY}``) in ``data``."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    _collect_references(data, (), found)
    return found


def _collect_references(data: Any, parts: tuple[str | int, ...],
                        found: list[tuple[tuple[str | int, ...], str]]) -> None:
    # Only mappings and lists are descended into; a path is built only for them (most
    # values are text, and this walks every value of every file).
    if isinstance(data, dict):
        sops = data.get("sops")
        if len(data) == 2 and isinstance(sops, str) and "key" in data:
            found.append((parts, PurePosixPath(sops).as_posix()))
            return
        for key, value in data.items():
            if isinstance(value, _CONTAINERS):
                _collect_references(value, (*parts, key), found)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            if isinstance(value, _CONTAINERS):
                _collect_references(value, (*parts, index), found)


_CONTAINERS = (dict, list)


def _scope(kind: str, obj: Any) -> tuple[str, ...]:
    if kind == "notification":
        return tuple(sorted(set(obj.environments))) or (EVERY,)
    environment = getattr(obj, "environment", None)
    return (environment,) if isinstance(environment, str) else (EVERY,)


def secret_references(inventory: Inventory) -> dict[str, list[_Reference]]:
    """Every reference to each secret file, from the objects that were valid.

    What a document refers to is a function of it and its object: of a document and an
    object that the inventory loaded beside this one (``reusing``) has too, what was found
    there."""
    made: dict[tuple[str, str], tuple[Any, Any, list[_Reference]]] = inventory.derived(
        _MADE, lambda _: {})
    before: dict[tuple[str, str], tuple[Any, Any, list[_Reference]]] = (
        inventory.earlier.previous.computed(_MADE) or {}) if inventory.earlier else {}
    found: dict[str, list[_Reference]] = {}
    for key, doc in sorted(inventory.documents.items()):
        kind, name = key
        obj = inventory.objects(kind).get(name)
        if obj is None or kind in ("project", "policy"):
            continue
        kept = before.get(key)
        if kept is None or kept[0] is not doc or kept[1] is not obj:
            kept = (doc, obj, _references_of(kind, name, doc.text, doc.data, obj))
        made[key] = kept
        for reference in kept[2]:
            found.setdefault(reference.file, []).append(reference)
    return found


_MADE = "secrets.references"  # dropped with the documents (Inventory.forget_documents)


def _references_of(kind: str, name: str, text: str | None, data: Any, obj: Any
                   ) -> list[_Reference]:
    if text and "sops" not in text and "\\" not in text:
        # A reference has a key "sops", which only an escape in a double-quoted key
        # could spell without the text holding it: most files hold none to walk.
        return []
    return [_Reference(kind, name, parts, file, _scope(kind, obj))
            for parts, file in _references(data)]


def _policy(inventory: Inventory) -> Policy | None:
    found = inventory.objects("policy").get("policy")
    return found if isinstance(found, Policy) else None


@rule("secret-scope")
def secret_scope(inventory: Inventory) -> Iterator[Diagnostic]:
    """A secret file is referred to from one environment, unless its sharing is declared."""
    policy = _policy(inventory)
    shared = policy.shared_secrets if policy is not None else {}
    for file, references in sorted(secret_references(inventory).items()):
        scopes = sorted({r.scope for r in references})
        environments = sorted({e for scope in scopes for e in scope})
        declared = set(shared.get(file, ()))
        if len(scopes) < 2 or (EVERY not in environments and set(environments) <= declared):
            continue
        if all(r.kind == "notification" for r in references):
            continue  # a webhook shared by channels: none of them is any environment's own
        users = "; ".join(
            f"{', '.join(scope)}: " + ", ".join(sorted({f'{r.kind} {r.name}' for r in references
                                                       if r.scope == scope}))
            for scope in scopes)
        for ref in references:
            yield inventory.diagnostic(
                ref.kind, ref.name, (*ref.parts, "sops"),
                f"{file} is a secret of several environments ({users}); a secret file "
                "belongs to one environment", code="secret-scope",
                hint="give each environment its own secret file, or have an admin declare "
                f"the sharing in policy.yaml: shared_secrets: "
                f"{{{file}: [{', '.join(environments)}]}}")


@rule("runner-labels")
def runner_labels(inventory: Inventory) -> Iterator[Diagnostic]:
    """Host names never look like a runner label that other runners carry."""
    for name in sorted(inventory.hosts):
        if name in RUNNER_LABELS or name.startswith(RUNNER_LABEL_PREFIX):
            yield inventory.diagnostic(
                "host", name, ("name",),
                f"host name {name!r} is a runner label (GitHub's or hznctl's own): a deploy "
                "job selecting it could run on other runners", code="runner-labels",
                hint="choose another name, e.g. worker-1 (its runner carries the label "
                f"{RUNNER_LABEL_PREFIX}<name>)")


def allowed_roots(host: Host) -> tuple[str, ...]:
    return (*DEFAULT_ROOTS, *host.privileges.paths)


@functools.lru_cache(maxsize=4096)
def path_problem(path: str, roots: tuple[str, ...]) -> str | None:
    """Why ``path`` is not allowed under ``roots`` (None when it is).

    Cached: every application is checked against every host it runs on, and most share
    their directories' roots.
    """
    if ".." in PurePosixPath(path).parts:
        return "has a '..' part (write the folder it means)"
    normal = posixpath.normpath(path)
    if any(normal == root or normal.startswith(root.rstrip("/") + "/") for root in roots):
        return None
    return "is outside the host's allowed roots (" + ", ".join(roots) + ")"


_PRIVILEGE_HINT = ("an admin may allow it in the host's privileges (privileges.root, "
                   "privileges.paths)")


@application_rule("least-privilege")
def application_privileges(inventory: Inventory, slug: str, app: Application
                           ) -> Iterator[Diagnostic]:
    """No root workers and no application folder outside the roots of a host it runs on,
    unless the host's privileges say so."""
    hosts = sorted({h for group in worker_hosts(inventory).get(slug, ()) for h in group})
    for name in hosts:
        host = inventory.hosts[name]
        if app.user == "root" and not host.privileges.root:
            yield inventory.diagnostic(
                "application", slug, ("user",),
                f"user root{origin(inventory, 'application', slug, ('user',))}: workers "
                f"run as root on host {name}, whose privileges do not allow it",
                code="least-privilege", hint=_PRIVILEGE_HINT)
        problem = path_problem(app.directory, allowed_roots(host))
        if problem is not None:
            yield inventory.diagnostic(
                "application", slug, ("directory",),
                f"directory {app.directory} {problem} on host {name}",
                code="least-privilege", hint=_PRIVILEGE_HINT)


@rule("least-privilege")
def host_privileges(inventory: Inventory) -> Iterator[Diagnostic]:
    """No log folder outside the host's roots, unless its privileges say so."""
    hint = _PRIVILEGE_HINT
    for name in sorted(inventory.hosts):
        host = inventory.hosts[name]
        if host.target is not HostTarget.SUPERVISORD:
            continue  # a cluster's pods log to stdout: no log folder on a machine
        log_dir = host.supervisord.log_dir
        problem = path_problem(log_dir, allowed_roots(host))
        if problem is not None:
            yield inventory.diagnostic(
                "host", name, ("supervisord", "log_dir"),
                f"log_dir {log_dir}{origin(inventory, 'host', name, ('supervisord', 'log_dir'))}"
                f" {problem}", code="least-privilege", hint=hint)
