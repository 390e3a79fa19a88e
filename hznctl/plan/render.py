"""Plans as text, JSON and Markdown (the pull request's summary)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from hznctl.plan.model import HostPlan


def _summary(plan: HostPlan) -> str:
    return (f"{len(plan.added)} to add, {len(plan.changed)} to change, "
            f"{len(plan.removed)} to remove, {len(plan.unchanged)} unchanged")


def _processes(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "no process"


def render_text(plans: Sequence[HostPlan]) -> str:
    lines: list[str] = []
    for plan in plans:
        lines.append(f"{plan.host}: {_summary(plan)}")
        for name in plan.added:
            lines.append(f"  + {name}: starts {_processes(plan.groups[name].starts)}")
        for name in plan.changed:
            group = plan.groups[name]
            lines.append(f"  ~ {name}: " + ", ".join(c.text() for c in group.changes))
            lines.append(f"      restarts {_processes(group.stops)}")
            extra = [p for p in group.starts if p not in group.stops]
            if extra:
                lines.append(f"      starts {_processes(extra)}")
        for name in plan.removed:
            lines.append(f"  - {name}: stops {_processes(plan.groups[name].stops)}")
    if not any(p.has_changes for p in plans):
        lines.append("No changes: every host runs what the inventory says.")
    return "\n".join(lines) + "\n"


def render_json(plans: Sequence[HostPlan]) -> str:
    payload = {
        "changes": any(p.has_changes for p in plans),
        "hosts": [p.as_dict() for p in plans],
    }
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def render_markdown(plans: Sequence[HostPlan]) -> str:
    changed = [p for p in plans if p.has_changes]
    lines = ["## hznctl plan", ""]
    if not changed:
        lines.append("No changes: every host runs what the inventory says.")
        return "\n".join(lines) + "\n"
    lines += ["| host | add | change | remove | unchanged | processes restarted |",
              "|---|---:|---:|---:|---:|---:|"]
    for plan in plans:
        lines.append(f"| {plan.host} | {len(plan.added)} | {len(plan.changed)} | "
                     f"{len(plan.removed)} | {len(plan.unchanged)} | {len(plan.restarts)} |")
    for plan in changed:
        lines += ["", f"### {plan.host}", ""]
        for name in plan.added:
            group = plan.groups[name]
            lines.append(f"- **added** `{name}`: starts {len(group.starts)} process(es)")
        for name in plan.changed:
            group = plan.groups[name]
            why = "; ".join(_md(c.text()) for c in group.changes)
            lines.append(f"- **changed** `{name}`: {why} — restarts "
                         f"{len(group.stops)} process(es)")
        for name in plan.removed:
            group = plan.groups[name]
            lines.append(f"- **removed** `{name}`: stops {len(group.stops)} process(es)")
    return "\n".join(lines) + "\n"


RENDERERS = {"text": render_text, "json": render_json, "markdown": render_markdown}
