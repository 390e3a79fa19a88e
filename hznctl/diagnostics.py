"""Diagnostics: findings that point at a place (file, line, column, field path)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    """One finding. Ordering is by place, so reports read top to bottom through each file."""

    file: str
    line: int
    col: int
    path: str
    message: str
    severity: Severity = Severity.ERROR
    code: str = ""
    hint: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def text(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        field = f" {self.path}:" if self.path else ""
        level = "" if self.is_error else " warning:"
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}:{level}{field} {self.message}{hint}"

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["severity"] = str(self.severity)
        return data


def format_path(parts: Sequence[str | int]) -> str:
    """('workers', 1, 'max_processes') -> 'workers[1].max_processes'."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    return sorted(set(diagnostics))


def _github_escape(value: str, *, prop: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def render_text(diagnostics: Sequence[Diagnostic]) -> str:
    return "".join(d.text() + "\n" for d in diagnostics)


def render_json(diagnostics: Sequence[Diagnostic], **extra: object) -> str:
    errors = sum(1 for d in diagnostics if d.is_error)
    payload = {
        **extra,
        "errors": errors,
        "warnings": len(diagnostics) - errors,
        "diagnostics": [d.as_dict() for d in diagnostics],
    }
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"


def render_github(diagnostics: Sequence[Diagnostic]) -> str:
    lines = []
    for d in diagnostics:
        level = "error" if d.is_error else "warning"
        title = _github_escape(d.path or d.code or "hznctl", prop=True)
        message = f"{d.path}: {d.message}" if d.path else d.message
        if d.hint:
            message += f" ({d.hint})"
        lines.append(
            f"::{level} file={_github_escape(d.file, prop=True)},line={d.line},col={d.col},"
            f"title={title}::{_github_escape(message)}\n"
        )
    return "".join(lines)


RENDERERS = {"text": render_text, "json": render_json, "github": render_github}
