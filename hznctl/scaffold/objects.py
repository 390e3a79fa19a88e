"""New inventory objects as YAML text, in the order an operator reads them.

Values arrive already typed from the CLI; the staged validation (``staging``) is what
decides whether they are right, so these functions only shape the documents.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hznctl.errors import HznctlError

# kind -> (folder, schema file)
KIND_FILES = {
    "application": ("applications", "application.schema.json"),
    "connection": ("connections", "connection.schema.json"),
    "host": ("hosts", "host.schema.json"),
}


@dataclass(frozen=True)
class HostSpec:
    name: str
    environment: str
    labels: Mapping[str, str] = field(default_factory=dict)
    age_recipient: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class ConnectionSpec:
    name: str
    host: str
    environment: str
    port: int = 6379
    database: int = 0
    username: str | None = None
    tls: bool = False
    description: str | None = None
    region: str | None = None
    provider: str | None = None


@dataclass(frozen=True)
class ApplicationSpec:
    slug: str
    runtime: str
    environment: str
    directory: str
    connections: Sequence[str]
    name: str | None = None
    description: str | None = None
    user: str | None = None
    key_prefix: str | None = None
    executable: str | None = None
    app_module: str | None = None
    command: str | None = None


@dataclass(frozen=True)
class WorkerSpec:
    application: str
    name: str
    queues: Sequence[str]
    connection: str | None = None
    balance: str | None = None
    min_processes: int | None = None
    max_processes: int | None = None
    tries: int | None = None
    timeout: int | None = None
    memory: int | None = None
    hosts: Sequence[str] = ()
    host_labels: Mapping[str, str] = field(default_factory=dict)


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != {} and value != [] and value != ():
        data[key] = value


def host_data(spec: HostSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"name": spec.name, "environment": spec.environment}
    _set(data, "description", spec.description)
    _set(data, "labels", dict(spec.labels))
    _set(data, "age_recipient", spec.age_recipient)
    return data


def connection_data(spec: ConnectionSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"name": spec.name}
    _set(data, "description", spec.description)
    data.update({"host": spec.host, "port": spec.port, "database": spec.database})
    _set(data, "username", spec.username)
    if spec.tls:
        data["tls"] = {"enabled": True}
    data["environment"] = spec.environment
    _set(data, "region", spec.region)
    _set(data, "provider", spec.provider)
    return data


def application_data(spec: ApplicationSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"name": spec.name or spec.slug, "slug": spec.slug}
    _set(data, "description", spec.description)
    data.update({"runtime": spec.runtime, "environment": spec.environment,
                 "directory": spec.directory})
    for key in ("user", "key_prefix", "executable", "app_module", "command"):
        _set(data, key, getattr(spec, key))
    data["connections"] = [
        {"connection": name, "primary": True} if index == 0 else {"connection": name}
        for index, name in enumerate(spec.connections)
    ]
    return data


def worker_data(spec: WorkerSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"name": spec.name}
    _set(data, "connection", spec.connection)
    data["queues"] = list(spec.queues)
    for key in ("balance", "min_processes", "max_processes", "tries", "timeout", "memory"):
        _set(data, key, getattr(spec, key))
    _set(data, "hosts", list(spec.hosts))
    _set(data, "host_labels", dict(spec.host_labels))
    return data


class _Dumper(yaml.SafeDumper):
    """Block style, except lists of plain values (queues, hosts) on one line."""


def _list(dumper: yaml.SafeDumper, items: list[Any]) -> yaml.Node:
    flat = all(isinstance(item, str | int | float | bool) for item in items)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flat)


_Dumper.add_representer(list, _list)
# hznctl reads `1e3` as a float (YAML 1.2) where PyYAML's resolver sees a string: teach the
# dumper that pattern so that such strings are quoted.
_Dumper.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


def dump(data: Any) -> str:
    """YAML that hznctl's strict loader reads back as the same values (quotes where needed)."""
    from hznctl.yamlio import YamlProblem, parse_document

    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=100)
    try:
        same = parse_document(text.encode("utf-8"), Path("new.yaml"), "new.yaml").data == data
    except YamlProblem:
        same = False
    if not same:
        # YAML 1.1 and 1.2 disagree on some plain words (1e3, yes): never write a value
        # that would read back as something else.
        raise HznctlError("a value cannot be written so that it reads back the same; "
                          "check the values given for typos")
    return text


def document(kind: str, data: Mapping[str, Any], inventory: Path) -> str:
    """A new file's text, with the editor's schema comment when the schemas are there."""
    _folder, schema = KIND_FILES[kind]
    header = ""
    if (inventory.parent / "schemas" / schema).is_file():
        header = f"# yaml-language-server: $schema=../../schemas/{schema}\n"
    return header + dump(dict(data))


def object_path(kind: str, name: str) -> str:
    return f"{KIND_FILES[kind][0]}/{name}.yaml"
