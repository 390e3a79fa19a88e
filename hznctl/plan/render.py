"""Plans as text, JSON and Markdown (the pull request's summary).

Every name and value is escaped for where it goes: a terminal or CI log (``terminal``), or
a Markdown code span (``markdown_code``), so no value becomes a workflow command or markup.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from hznctl.escape import markdown_code, terminal
from hznctl.plan.model import FieldChange, HostPlan


def _summary(plan: HostPlan) -> str:
    return (f"{len(plan.added)} to add, {len(plan.changed)} to change, "
            f"{len(plan.removed)} to remove, {len(plan.unchanged)} unchanged")


def _processes(names: Sequence[str]) -> str:
    return ", ".join(map(terminal, names)) if names else "no process"


REKEYED = "re-encrypted for other recipients, same password: restarts nothing"


def render_text(plans: Sequence[HostPlan]) -> str:
    lines: list[str] = []
    for plan in plans:
        lines.append(f"{terminal(plan.host)}: {_summary(plan)}")
        for name in plan.added:
            lines.append(f"  + {terminal(name)}: starts {_processes(plan.groups[name].starts)}")
        for name in plan.changed:
            group = plan.groups[name]
            lines.append(f"  ~ {terminal(name)}: "
                         + ", ".join(terminal(c.text()) for c in group.changes))
            lines.append(f"      restarts {_processes(group.stops)}")
            extra = [p for p in group.starts if p not in group.stops]
            if extra:
                lines.append(f"      starts {_processes(extra)}")
        for name in plan.removed:
            lines.append(f"  - {terminal(name)}: stops {_processes(plan.groups[name].stops)}")
        for path in plan.rekeyed:
            lines.append(f"  = {terminal(path)}: {REKEYED}")
    if not any(p.has_changes for p in plans):
        lines.append("No changes: every host runs what the inventory says.")
    return "\n".join(lines) + "\n"


def render_json(plans: Sequence[HostPlan]) -> str:
    payload = {
        "changes": any(p.has_changes for p in plans),
        "hosts": [p.as_dict() for p in plans],
    }
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"


def _md_change(change: FieldChange) -> str:
    """Every value in a code span: a value is shown, never rendered (no HTML comment that
    hides the rest of the plan, no link, no emphasis)."""
    if change.note:
        return markdown_code(change.note)
    return (f"{markdown_code(change.field)} {_md_value(change.old)} → "
            f"{_md_value(change.new)}")


def _md_value(value: str | None) -> str:
    return "(unset)" if value is None else markdown_code(value) or '`""`'


def _rekeyed_markdown(plans: Sequence[HostPlan]) -> list[str]:
    lines: list[str] = []
    for plan in plans:
        if plan.rekeyed:
            lines += ["", f"{markdown_code(plan.host)}: "
                      + ", ".join(markdown_code(p) for p in plan.rekeyed) + f" {REKEYED}."]
    return lines


def render_markdown(plans: Sequence[HostPlan]) -> str:
    changed = [p for p in plans if p.has_changes]
    lines = ["## hznctl plan", ""]
    if not changed:
        lines.append("No changes: every host runs what the inventory says.")
        return "\n".join(lines + _rekeyed_markdown(plans)) + "\n"
    lines += ["| host | add | change | remove | unchanged | processes restarted |",
              "|---|---:|---:|---:|---:|---:|"]
    for plan in plans:
        lines.append(f"| {markdown_code(plan.host, table=True)} | {len(plan.added)} | "
                     f"{len(plan.changed)} | {len(plan.removed)} | {len(plan.unchanged)} | "
                     f"{len(plan.restarts)} |")
    for plan in changed:
        lines += ["", f"### {markdown_code(plan.host)}", ""]
        for name in plan.added:
            group = plan.groups[name]
            lines.append(f"- **added** {markdown_code(name)}: starts {len(group.starts)} "
                         "process(es)")
        for name in plan.changed:
            group = plan.groups[name]
            why = "; ".join(_md_change(c) for c in group.changes)
            lines.append(f"- **changed** {markdown_code(name)}: {why} — restarts "
                         f"{len(group.stops)} process(es)")
        for name in plan.removed:
            group = plan.groups[name]
            lines.append(f"- **removed** {markdown_code(name)}: stops {len(group.stops)} "
                         "process(es)")
    lines += _rekeyed_markdown(plans)
    return "\n".join(lines) + "\n"


RENDERERS = {"text": render_text, "json": render_json, "markdown": render_markdown}
