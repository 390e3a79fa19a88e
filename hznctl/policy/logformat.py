"""How `hznctl log` shows the activity log: text, JSON, Markdown."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from hznctl.escape import markdown_code, terminal
from hznctl.policy.changelog import Changelog, CommitEntry, DeployEntry, Entry
from hznctl.policy.changes import ObjectChange


def _change_lines(change: ObjectChange, indent: str, code: Callable[[str], str],
                  text: Callable[[str], str]) -> Iterator[str]:
    head = text(change.text())
    if change.action == "rename":
        yield f"{indent}{head}"
        return
    if len(change.fields) == 1:
        yield f"{indent}{head}: {_field(change.fields[0].text(), code, text)}"
        return
    yield f"{indent}{head}"
    for changed in change.fields:
        yield f"{indent}  {_field(changed.text(), code, text)}"


def _field(line: str, code: Callable[[str], str], text: Callable[[str], str]) -> str:
    path, sep, rest = line.partition(": ")
    if sep:
        return f"{code(path)}: {text(rest)}"
    path, sep, rest = line.partition(" ")
    return f"{code(path)}{sep}{text(rest)}"


def _deploy_text(entry: DeployEntry) -> str:
    revision = entry.revision[:12] if entry.revision else "unknown revision"
    groups = "; ".join(f"{kind} {', '.join(names)}" for kind, names in entry.groups.items())
    return (f"deploy to {entry.host}: {entry.result} (revision {revision})"
            + (f": {groups}" if groups else ""))


def render_text(log: Changelog) -> str:
    """Commit authors, subjects and changed values come from anyone who can push: every
    line is escaped for the terminal or CI log."""
    lines: list[str] = []
    for entry in log.entries:
        if isinstance(entry, DeployEntry):
            lines.append(f"{terminal(entry.time)} {terminal(_deploy_text(entry))}")
            continue
        c = entry.commit
        lines.append(f"{terminal(c.date)} {terminal(c.short)} {terminal(c.author_name)} "
                     f"<{terminal(c.author_email)}>: {terminal(c.subject)}")
        lines.extend(_commit_body(entry, "  ", terminal, terminal))
    return "".join(line + "\n" for line in lines)


def _commit_body(entry: CommitEntry, indent: str, code: Callable[[str], str],
                 text: Callable[[str], str]) -> Iterator[str]:
    if not entry.changes:
        yield f"{indent}no change to any object (comments or formatting only)"
    for change in entry.changes:
        yield from _change_lines(change, indent, code, text)


def render_json(log: Changelog) -> str:
    return json.dumps(log.as_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_markdown(log: Changelog) -> str:
    since = f" since {markdown_code(log.since)}" if log.since else ""
    lines = [f"# Changes to {markdown_code(log.inventory)}{since}", ""]
    if not log.entries:
        lines += ["No changes.", ""]
    for entry in log.entries:
        lines += [*_md_entry(entry), ""]
    return "\n".join(lines)


def _md_entry(entry: Entry) -> Iterator[str]:
    if isinstance(entry, DeployEntry):
        yield f"## {markdown_code(entry.time)} · deploy to {markdown_code(entry.host)}"
        yield ""
        yield f"- {markdown_code(_deploy_text(entry))}"
        return
    c = entry.commit
    yield (f"## {c.date} · {markdown_code(c.short)} · "
           f"{markdown_code(c.author_name)} ({markdown_code(c.author_email)})")
    yield ""
    yield markdown_code(c.subject) or "(no subject)"
    yield ""
    yield from (f"- {line.strip()}" if not line.startswith("    ") else f"  - {line.strip()}"
                for line in _commit_body(entry, "  ", markdown_code, markdown_code))


RENDERERS: dict[str, Callable[[Changelog], str]] = {
    "text": render_text, "json": render_json, "markdown": render_markdown,
}
