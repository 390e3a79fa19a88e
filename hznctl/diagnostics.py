"""Diagnostics: findings that point at a place (file, line, column, field path)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum

from hznctl.escape import github_data, github_property, terminal


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
        """One line for a terminal or a CI log; every part is escaped for it (a file name,
        key or value can hold control characters or look like a workflow command)."""
        where = f"{terminal(self.file)}:{self.line}:{self.col}"
        field = f" {terminal(self.path)}:" if self.path else ""
        level = "" if self.is_error else " warning:"
        hint = f" ({terminal(self.hint)})" if self.hint else ""
        return f"{where}:{level}{field} {terminal(self.message)}{hint}"

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
        title = github_property(d.path or d.code or "hznctl")
        message = f"{d.path}: {d.message}" if d.path else d.message
        if d.hint:
            message += f" ({d.hint})"
        lines.append(
            f"::{level} file={github_property(d.file)},line={d.line},col={d.col},"
            f"title={title}::{github_data(message)}\n"
        )
    return "".join(lines)


RENDERERS = {"text": render_text, "json": render_json, "github": render_github}
