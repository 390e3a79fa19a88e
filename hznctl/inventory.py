"""Loading an inventory folder into typed objects, with a diagnostic for every problem.

Layout (see DESIGN.md)::

    project.yaml                 Project settings (required)
    applications/<slug>.yaml     Application
    connections/<name>.yaml      RedisConnection
    hosts/<name>.yaml            Host
    notifications/<name>.yaml    NotificationChannel

Each file is read strictly (``yamlio``), project defaults are merged in, and the result is
validated against its model. Problems in one file never stop the others from being read:
the caller gets every diagnostic at once, and the objects that were valid.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import os
import stat
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hznctl.credentials import HIDDEN, looks_like_credential
from hznctl.diagnostics import Diagnostic, Severity, format_path
from hznctl.models import Application, Host, NotificationChannel, Project, RedisConnection
from hznctl.models.common import PATTERN_HELP, defined
from hznctl.models.policy import Policy
from hznctl.system import paused_gc
from hznctl.yamlio import (
    YAML11_BOOL_WORDS,
    Document,
    YamlProblem,
    load_document,
    plain_value,
)

MAX_FILES = 100_000
_T = TypeVar("_T")
SENSITIVE_WORDS = ("password", "secret", "token", "url", "credential", "passwd", "auth")


@dataclass(frozen=True)
class KindSpec:
    """One kind of inventory object: where its files are and which model reads them."""

    kind: str
    model: type[BaseModel]
    folder: str | None = None
    filename: str | None = None
    name_field: str = "name"
    required: bool = False
    defaults: Callable[[Project], dict[str, Any]] | None = None


def _application_defaults(project: Project) -> dict[str, Any]:
    return defined(project.defaults.application)


def _connection_defaults(project: Project) -> dict[str, Any]:
    return defined(project.defaults.connection)


def _host_defaults(project: Project) -> dict[str, Any]:
    return defined(project.defaults.host)


def _worker_defaults(project: Project) -> dict[str, Any]:
    return defined(project.defaults.worker)


PROJECT = KindSpec("project", Project, filename="project.yaml", required=True)
KINDS: list[KindSpec] = [
    KindSpec("application", Application, folder="applications", name_field="slug",
             defaults=_application_defaults),
    KindSpec("connection", RedisConnection, folder="connections",
             defaults=_connection_defaults),
    KindSpec("host", Host, folder="hosts", defaults=_host_defaults),
    KindSpec("notification", NotificationChannel, folder="notifications"),
]
# policy.yaml: who may change what (`hznctl policy check`); loaded and checked like the rest.
POLICY = KindSpec("policy", Policy, filename="policy.yaml")


@dataclass
class Inventory:
    """The typed inventory: objects by name, with the documents they came from."""

    root: Path
    project: Project | None
    applications: dict[str, Application] = field(default_factory=dict)
    connections: dict[str, RedisConnection] = field(default_factory=dict)
    hosts: dict[str, Host] = field(default_factory=dict)
    notifications: dict[str, NotificationChannel] = field(default_factory=dict)
    extra: dict[str, dict[str, BaseModel]] = field(default_factory=dict)
    documents: dict[tuple[str, str], Document] = field(default_factory=dict)
    broken: set[tuple[str, str]] = field(default_factory=set)
    # Values derived from the whole inventory (placement, secret uses), computed once and
    # shared by every rule and stage of a run; see ``derived``.
    # (init=False: an inventory made with dataclasses.replace starts with none of them.)
    _derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False,
                                     compare=False)
    # The inventory this one was loaded beside (``reusing``), and which files the two
    # have the same bytes of: what a rule may take from that one's findings.
    earlier: _Reuse | None = field(default=None, init=False, repr=False, compare=False)

    def derived(self, name: str, compute: Callable[[Inventory], _T]) -> _T:
        """``compute(self)``, computed once per inventory under ``name``.

        Several rules need the same whole-inventory view (where every worker group runs,
        who reads each secret); computing it once keeps validate linear in the fleet.
        An inventory is not changed after loading, so the value stays right.
        """
        if name not in self._derived:
            self._derived[name] = compute(self)
        value: _T = self._derived[name]
        return value

    def computed(self, name: str) -> Any:
        """What ``derived`` computed under ``name`` so far (None: nothing yet)."""
        return self._derived.get(name)

    def objects(self, kind: str) -> dict[str, Any]:
        attr: dict[str, dict[str, Any]] = {
            "application": self.applications, "connection": self.connections,
            "host": self.hosts, "notification": self.notifications,
        }
        if kind in attr:
            objects: dict[str, Any] = attr[kind]
            return objects
        return self.extra.setdefault(kind, {})

    def forget_documents(self) -> None:
        """Let go of what only validation needs: every file's data and text (kept to place
        diagnostics), the rules' views of the secrets (their SOPS files, read) and what
        the rules found. A stage past validation that places no diagnostic (a compile)
        needs only the objects and their placement: a view asked for again is computed
        again, and a diagnostic names the inventory folder, line 1."""
        self.documents.clear()
        for name in [n for n in self._derived if n.startswith(("secrets.", "rules."))]:
            del self._derived[name]

    def document(self, kind: str, name: str) -> Document | None:
        return self.documents.get((kind, name))

    def diagnostic(
        self,
        kind: str,
        name: str,
        parts: Sequence[str | int],
        message: str,
        *,
        severity: Severity = Severity.ERROR,
        code: str = "",
        hint: str = "",
        key: bool = False,
        at: Sequence[str | int] | None = None,
    ) -> Diagnostic:
        """A diagnostic about field ``parts`` of object ``name`` of ``kind``.

        It is placed at that field, or at field ``at`` when given (a missing field is best
        shown next to the one that makes it necessary).
        """
        doc = self.documents.get((kind, name))
        if doc is None:
            return Diagnostic(str(self.root), 1, 1, format_path(parts), message, severity,
                              code, hint)
        line, col = doc.locate(parts if at is None else at, key=key)
        return Diagnostic(doc.display, line, col, format_path(parts), message, severity, code,
                          hint)


@dataclass
class LoadResult:
    inventory: Inventory
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def display_path(path: Path) -> str:
    """Paths as the user wrote them: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(path)


def deep_merge(defaults: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Document values win; nested mappings are merged key by key.

    Keys keep their order: the defaults' first, then the document's own. Only the
    defaults' keys are looked at one by one (they are few; documents have many).
    """
    merged = dict(defaults)
    merged.update(data)
    for key, base in defaults.items():
        if isinstance(base, dict) and key in data:
            value = data[key]
            if isinstance(value, dict):
                merged[key] = deep_merge(base, value)
    return merged


def _fresh(value: Any) -> Any:
    """A copy of ``value``'s mappings and lists (plain data, as a model dump gives)."""
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    return value


def _iter_kind_files(root: Path, spec: KindSpec, diagnostics: list[Diagnostic]) -> Iterator[Path]:
    assert spec.folder is not None
    folder = root / spec.folder
    if not folder.is_dir():
        return
    # Names sort as their paths do (one folder), and much faster than Path objects.
    for name in sorted(os.listdir(folder)):
        entry = folder / name
        if name.startswith("."):
            continue
        if entry.suffix not in (".yaml", ".yml"):
            if entry.is_dir() or entry.suffix:
                diagnostics.append(Diagnostic(
                    display_path(entry), 1, 1, "",
                    f"not read: {spec.folder}/ holds only <name>.yaml files",
                    Severity.WARNING, "stray-file",
                ))
            continue
        yield entry


class _Places:
    """Where each file is, really and as shown: worked out once per folder, not per file.

    ``os.path.realpath`` of every file stats every folder above it again; a file that is
    not itself a symbolic link is where its folder's real path says (its folder's real
    path is resolved once, symbolic links and all), and only a link is resolved in full.
    """

    def __init__(self, root: Path) -> None:
        self.real_root: str | None
        try:
            self.real_root = os.path.realpath(root)
        except OSError:
            self.real_root = None
        self._real: dict[str, str] = {}
        self._shown: dict[str, str] = {}
        self._defaults: dict[str, tuple[dict[str, Any], bool]] = {}

    def inside(self, path: Path) -> bool:
        """Whether ``path``, symbolic links followed, is in the inventory folder."""
        real_root = self.real_root
        if real_root is None:
            return False
        try:
            real = self._realpath(path)
        except OSError:
            return False
        return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)

    def _realpath(self, path: Path) -> str:
        text = os.fspath(path)
        folder, name = os.path.split(text)
        if not name or name in (".", ".."):
            return os.path.realpath(text)
        try:
            link = stat.S_ISLNK(os.lstat(text).st_mode)
        except OSError:
            link = True  # missing or unreadable: let realpath say what it can
        if link:
            return os.path.realpath(text)
        real_folder = self._real.get(folder)
        if real_folder is None:
            real_folder = self._real[folder] = os.path.realpath(folder)
        return os.path.join(real_folder, name)

    def defaults(self, kind: str, project: Project,
                 compute: Callable[[Project], dict[str, Any]]) -> dict[str, Any]:
        """The project's defaults for ``kind``, dumped once per load, not once per file.

        ``deep_merge`` copies the top level; nested mappings or lists (labels, env) are
        copied for each file as the dump made them, so that no two objects share one.
        """
        found = self._defaults.get(kind)
        if found is None:
            values = compute(project)
            found = self._defaults[kind] = (
                values, any(isinstance(v, dict | list) for v in values.values()))
        values, nested = found
        return _fresh(values) if nested else values

    def display(self, path: Path) -> str:
        """``display_path(path)``, with the folder's part worked out once."""
        folder, name = os.path.split(os.fspath(path))
        if not name or name in (".", ".."):
            return display_path(path)
        shown = self._shown.get(folder)
        if shown is None:
            shown = self._shown[folder] = display_path(Path(folder)) if folder else "."
        return name if shown == "." else os.path.join(shown, name)


@dataclass(frozen=True)
class _Reuse:
    previous: Inventory
    same: frozenset[str]  # paths relative to the roots, of the same bytes in both

    def same_file(self, inventory: Inventory, path: Path) -> Path | None:
        """``previous``'s file of the same bytes as ``path``, a file of ``inventory`` (the
        one loaded beside it), if there is one."""
        rel = _relative(path, inventory.root)
        return self.previous.root / rel if rel is not None and rel in self.same else None


_REUSE: contextvars.ContextVar[_Reuse | None] = contextvars.ContextVar("reuse", default=None)


@contextlib.contextmanager
def reusing(previous: Inventory, same: Collection[str]) -> Iterator[None]:
    """Load inventories reusing ``previous``'s objects read from a file of the same bytes
    (``same``: paths relative to the inventory folder), when project.yaml is one of them
    (defaults merged in alike): a file's object is a function of its bytes, its path and
    the project's defaults. `plan --base` loads both revisions, most of whose files are
    the same. A reused object's document names the file where it was first read. The
    inventories loaded know ``previous`` as ``earlier`` (a rule may reuse what it found
    of a file of the same bytes there), whether or not project.yaml is the same."""
    token = _REUSE.set(_Reuse(previous, frozenset(same)))
    try:
        yield
    finally:
        _REUSE.reset(token)


def _reused(path: Path, spec: KindSpec, name: str, inventory: Inventory) -> BaseModel | None:
    """The object of ``path`` as loaded before from the same bytes (None: load it)."""
    reuse = _REUSE.get()
    if reuse is None or "project.yaml" not in reuse.same:
        return None
    previous = reuse.previous
    key = (spec.kind, name)
    doc = previous.documents.get(key)
    if doc is None or key in previous.broken:
        return None
    rel = _relative(path, inventory.root)
    if (rel is None or rel not in reuse.same
            or os.fspath(doc.path) != _prefix(previous.root) + rel.replace("/", os.sep)):
        return None
    obj = (previous.project if spec.kind == PROJECT.kind
           else previous.objects(spec.kind).get(name if spec.folder else spec.kind))
    if obj is None:
        return None
    inventory.documents[key] = doc
    inventory.objects(spec.kind)[name if spec.folder else spec.kind] = obj
    return obj


def _prefix(root: Path) -> str:
    """What ``root / name`` puts before ``name``, as text."""
    top = os.fspath(root)
    return "" if top == "." else top if top.endswith(os.sep) else top + os.sep


def _relative(path: Path, root: Path) -> str | None:
    """``path.relative_to(root).as_posix()`` for a path made as ``root / …`` (None for
    another), on strings: it is asked once per file of the fleet."""
    text, top = os.fspath(path), _prefix(root)
    return text[len(top):].replace(os.sep, "/") if text.startswith(top) else None


def load_inventory(root: Path, *, kinds: Sequence[KindSpec] | None = None) -> LoadResult:
    """Read every inventory file under ``root``; never raises for a user's mistake."""
    with paused_gc():
        return _load_inventory(root, kinds)


def _load_inventory(root: Path, kinds: Sequence[KindSpec] | None) -> LoadResult:
    diagnostics: list[Diagnostic] = []
    inventory = Inventory(root=root, project=None)
    inventory.earlier = _REUSE.get()
    if not root.is_dir():
        diagnostics.append(Diagnostic(display_path(root), 1, 1, "",
                                      "inventory folder does not exist", code="no-inventory"))
        return LoadResult(inventory, diagnostics)

    places = _Places(root)
    project_path = root / "project.yaml"
    if project_path.exists():
        project = _load_one(places, project_path, PROJECT, None, inventory, diagnostics)
        inventory.project = project if isinstance(project, Project) else None
    else:
        diagnostics.append(Diagnostic(display_path(project_path), 1, 1, "",
                                      "project.yaml is missing", code="no-project",
                                      hint="create it with `hznctl init`"))

    for spec in kinds if kinds is not None else all_kinds():
        if spec.filename is not None:
            path = root / spec.filename
            if path.exists():
                _load_one(places, path, spec, inventory.project, inventory, diagnostics)
            elif spec.required:
                diagnostics.append(Diagnostic(display_path(path), 1, 1, "",
                                              f"{spec.filename} is missing", code="missing-file"))
            continue
        first_file: dict[str, Path] = {}
        for path in _iter_kind_files(root, spec, diagnostics):
            first = first_file.setdefault(path.stem, path)
            if first is not path:  # name.yaml and name.yml: two objects with one name
                diagnostics.append(Diagnostic(
                    display_path(path), 1, 1, "",
                    f"{spec.kind} {path.stem!r} is already defined in {display_path(first)}",
                    code="duplicate-name", hint="keep one of the two files"))
                continue
            _load_one(places, path, spec, inventory.project, inventory, diagnostics)
    return LoadResult(inventory, diagnostics)


def all_kinds() -> list[KindSpec]:
    """Every kind of file an inventory folder holds, besides project.yaml."""
    return [*KINDS, POLICY]


def _load_one(
    places: _Places,
    path: Path,
    spec: KindSpec,
    project: Project | None,
    inventory: Inventory,
    diagnostics: list[Diagnostic],
) -> BaseModel | None:
    display = places.display(path)
    name = path.stem if spec.folder else spec.kind
    if not places.inside(path):
        diagnostics.append(Diagnostic(display, 1, 1, "",
                                      "symbolic link points outside the inventory folder",
                                      code="symlink-escape",
                                      hint="copy the file into the inventory instead"))
        inventory.broken.add((spec.kind, name))
        return None
    reused = _reused(path, spec, name, inventory)
    if reused is not None:
        return reused
    try:
        doc = load_document(path, display)
    except YamlProblem as problem:
        diagnostics.append(Diagnostic(display, problem.line, problem.col, "", problem.message,
                                      code="yaml", hint=problem.hint))
        inventory.broken.add((spec.kind, name))
        return None
    inventory.documents[(spec.kind, name)] = doc
    if not isinstance(doc.data, dict):
        line, col = doc.locate(())
        diagnostics.append(Diagnostic(display, line, col, "",
                                      f"a {spec.kind} file holds one mapping of fields, "
                                      f"not a {_type_word(doc.data)}", code="not-a-mapping"))
        inventory.broken.add((spec.kind, name))
        return None
    data: dict[str, Any] = doc.data
    if spec.defaults is not None and project is not None:
        data = deep_merge(places.defaults(spec.kind, project, spec.defaults), data)
        if spec.kind == "application" and isinstance(data.get("workers"), list):
            worker_defaults = places.defaults("worker", project, _worker_defaults)
            if worker_defaults:
                data["workers"] = [
                    deep_merge(worker_defaults, w) if isinstance(w, dict) else w
                    for w in data["workers"]
                ]
    errors = False
    if spec.folder is not None:
        declared = data.get(spec.name_field)
        if isinstance(declared, str) and declared != name:
            line, col = doc.locate((spec.name_field,))
            diagnostics.append(Diagnostic(
                display, line, col, spec.name_field,
                f"{spec.name_field} {declared!r} does not match the file name {path.name!r}",
                code="name-mismatch", hint=f"rename the file to {declared}.yaml or the "
                f"{spec.name_field} to {name!r}"))
            errors = True
    try:
        obj = spec.model.model_validate(data)
    except ValidationError as exc:
        diagnostics.extend(validation_diagnostics(doc, spec.model, exc))
        inventory.broken.add((spec.kind, name))
        return None
    if errors:
        inventory.broken.add((spec.kind, name))
        return None
    if spec.folder is not None:
        inventory.objects(spec.kind)[name] = obj
    else:
        inventory.objects(spec.kind)[spec.kind] = obj
    return obj


def _type_word(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null value"
    return "single value"


def _data_path(data: Any, loc: Sequence[str | int], error_type: str) -> tuple[
    list[str | int], bool
]:
    """Map a pydantic error location onto the document's data, dropping union branch tags."""
    parts: list[str | int] = []
    is_key = False
    node = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if part == "[key]":
            is_key = True
            continue
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            parts.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            parts.append(part)
            node = node[part]
        elif last and error_type in ("missing", "extra_forbidden") and isinstance(node, dict):
            parts.append(part)
            node = None
        # else: a union branch tag such as 'int' or 'list[int]': not part of the data
    return parts, is_key


def _model_at(model: type[BaseModel], parts: Sequence[str | int]) -> type[BaseModel] | None:
    current: Any = model
    for part in parts:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        info = current.model_fields.get(part)
        if info is None:
            return None
        current = _inner_model(info.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and origin is not annotation:
        return _inner_model(origin) if isinstance(origin, type) else None
    return None


def is_sensitive(parts: Sequence[str | int]) -> bool:
    return any(
        isinstance(p, str) and any(word in p.lower() for word in SENSITIVE_WORDS) for p in parts
    )


def _show(value: Any) -> str:
    if looks_like_credential(value):
        return HIDDEN
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _hint_for(error_type: str, value: Any) -> str:
    if error_type.startswith("bool") and isinstance(value, str) and value in YAML11_BOOL_WORDS:
        return f"YAML 1.1 reads {value!r} as a boolean, hznctl does not: write true or false"
    if error_type.startswith("int") and isinstance(value, str):
        stripped = value.lstrip("+-")
        if stripped[:1] == "0" and stripped[1:2].isdigit():
            return "a leading zero is ambiguous (octal in YAML 1.1); write the number without it"
        if stripped[:2].lower() in ("0x", "0o", "0b") or "_" in value:
            return "write a plain decimal number"
    if error_type.startswith("int") and isinstance(value, float):
        return "write a whole number (1e3 and 2.0 are floats)"
    if error_type.split("_")[0] in ("int", "float", "bool") and isinstance(value, str) and (
        isinstance(plain_value(value), int | float | bool)
    ):
        return "remove the quotes: a quoted value is text"
    if value is None and error_type != "string_type":
        return "the value is empty (~, null or nothing after the colon): write one or " \
            "remove the field"
    if (error_type == "string_type" and isinstance(value, bool | int | float)) or (
        error_type == "string_type" and value is None
    ):
        return "quote the value to make it text"
    if error_type == "list_type" and isinstance(value, str):
        return f"write a list: [{value}]"
    return ""


def _closest_field(name: str, fields: list[str]) -> list[str]:
    """The field meant by an unknown ``name``: one it starts with (``hostname`` → ``host``,
    ``port_number`` → ``port``), else the closest spelling."""
    prefixes = sorted((f for f in fields if len(f) >= 3 and name.startswith(f)), key=len)
    if prefixes:
        return [prefixes[-1]]
    return difflib.get_close_matches(name, fields, n=1, cutoff=0.6)


def _message_for(error: Any, parts: Sequence[str | int], model: type[BaseModel]) -> tuple[
    str, str
]:
    error_type: str = error["type"]
    value = error.get("input")
    if error_type == "missing":
        return f"required field {parts[-1]!r} is missing" if parts else "required field is " \
            "missing", ""
    if error_type == "extra_forbidden":
        field_name = str(parts[-1]) if parts else "?"
        owner = _model_at(model, parts[:-1])
        hint = ""
        if owner is not None:
            close = _closest_field(field_name, list(owner.model_fields))
            if close:
                hint = f"did you mean {close[0]!r}?"
            else:
                hint = "known fields: " + ", ".join(sorted(owner.model_fields))
        return f"unknown field {field_name!r}", hint
    if error_type == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern", "")
        help_text = PATTERN_HELP.get(pattern)
        shown = "" if is_sensitive(parts) else f"{_show(value)}: "
        if help_text:
            return f"{shown}must be {help_text}", ""
        return f"{shown}does not have the expected form", ""
    message: str = error["msg"]
    if error_type == "value_error":
        message = message.removeprefix("Value error, ")
        return message, ""
    if error_type == "assertion_error":
        return message.removeprefix("Assertion failed, "), ""
    if not is_sensitive(parts) and not isinstance(value, dict | list):
        message = f"{message}, got {_show(value)}"
    return message, _hint_for(error_type, value)


def validation_diagnostics(
    doc: Document, model: type[BaseModel], exc: ValidationError
) -> list[Diagnostic]:
    """Turn pydantic's errors into placed diagnostics, one per field."""
    out: dict[str, Diagnostic] = {}
    for error in exc.errors(include_url=False):
        parts, is_key = _data_path(doc.data, error["loc"], error["type"])
        key = is_key or error["type"] == "extra_forbidden"
        locate_parts = parts[:-1] if error["type"] == "missing" else parts
        line, col = doc.locate(locate_parts, key=key)
        message, hint = _message_for(error, parts, model)
        path = format_path(parts)
        if path in out:  # a union reports each branch; the first says enough
            continue
        out[path] = Diagnostic(doc.display, line, col, path, message, Severity.ERROR,
                               error["type"], hint)
    return list(out.values())
