"""JSON Schemas of the inventory kinds, generated from the models (editors and CI use them).

One ``<kind>.schema.json`` per kind. The bytes are deterministic (sorted keys, fixed
indentation), so a test can tell when the committed schemas are stale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from hznctl.atomic import write_text
from hznctl.inventory import PROJECT, KindSpec, all_kinds
from hznctl.models.application import ApplicationDefaults
from hznctl.models.connection import ConnectionDefaults
from hznctl.models.host import HostDefaults

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Required fields that project.yaml's defaults may supply instead of the file itself.
_DEFAULTABLE: dict[str, type[BaseModel]] = {
    "application": ApplicationDefaults,
    "connection": ConnectionDefaults,
    "host": HostDefaults,
}


def schema_kinds() -> list[KindSpec]:
    return [PROJECT, *all_kinds()]


def schema_for(spec: KindSpec) -> dict[str, Any]:
    schema = spec.model.model_json_schema(mode="validation")
    defaults = _DEFAULTABLE.get(spec.kind)
    if defaults is not None and "required" in schema:
        schema["required"] = [f for f in schema["required"] if f not in defaults.model_fields]
    where = spec.filename or f"{spec.folder}/<{spec.name_field}>.yaml"
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"https://hznctl.dev/schemas/{spec.kind}.schema.json",
        **schema,
        "title": f"hznctl {spec.kind} ({where})",
    }


def render_schema(spec: KindSpec) -> str:
    return json.dumps(schema_for(spec), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_filename(spec: KindSpec) -> str:
    return f"{spec.kind}.schema.json"


@dataclass(frozen=True)
class SchemaResult:
    written: list[Path]
    stale: list[Path]


def write_schemas(out: Path, *, check: bool = False) -> SchemaResult:
    """Write every kind's schema into ``out``; with ``check``, only report stale files."""
    written: list[Path] = []
    stale: list[Path] = []
    for spec in schema_kinds():
        path = out / schema_filename(spec)
        text = render_schema(spec)
        if check:
            try:
                current = path.read_text(encoding="utf-8")
            except OSError:
                current = None
            if current != text:
                stale.append(path)
        elif write_text(path, text):
            written.append(path)
    return SchemaResult(written, stale)
