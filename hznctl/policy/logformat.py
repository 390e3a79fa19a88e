"""How `hznctl log` shows the activity log: text, JSON, Markdown."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from hznctl.policy.changelog import Changelog, CommitEntry, DeployEntry, Entry
from hznctl.policy.changes import ObjectChange


def _change_lines(change: ObjectChange, indent: str, code: Callable[[str], str]) -> Iterator[
    str
]:
    head = change.text()
    if change.action == "rename":
        yield f"{indent}{head}"
        return
    if len(change.fields) == 1:
        yield f"{indent}{head}: {_field(change.fields[0].text(), code)}"
        return
    yield f"{indent}{head}"
    for changed in change.fields:
        yield f"{indent}  {_field(changed.text(), code)}"


def _field(text: str, code: Callable[[str], str]) -> str:
    path, sep, rest = text.partition(": ")
    if sep:
        return f"{code(path)}: {rest}"
    path, sep, rest = text.partition(" ")
    return f"{code(path)}{sep}{rest}"


def _deploy_text(entry: DeployEntry) -> str:
    revision = entry.revision[:12] if entry.revision else "unknown revision"
    groups = "; ".join(f"{kind} {', '.join(names)}" for kind, names in entry.groups.items())
    return (f"deploy to {entry.host}: {entry.result} (revision {revision})"
            + (f": {groups}" if groups else ""))


def _plain(text: str) -> str:
    return text


def render_text(log: Changelog) -> str:
    lines: list[str] = []
    for entry in log.entries:
        if isinstance(entry, DeployEntry):
            lines.append(f"{entry.time} {_deploy_text(entry)}")
            continue
        c = entry.commit
        lines.append(f"{c.date} {c.short} {c.author_name} <{c.author_email}>: {c.subject}")
        lines.extend(_commit_body(entry, "  ", _plain))
    return "".join(line + "\n" for line in lines)


def _commit_body(entry: CommitEntry, indent: str, code: Callable[[str], str]) -> Iterator[str]:
    if not entry.changes:
        yield f"{indent}no change to any object (comments or formatting only)"
    for change in entry.changes:
        yield from _change_lines(change, indent, code)


def render_json(log: Changelog) -> str:
    return json.dumps(log.as_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _md_code(text: str) -> str:
    return f"`{text}`" if "`" not in text else text


def _md_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "\\`*_[]<>|#" else ch for ch in text)


def render_markdown(log: Changelog) -> str:
    since = f" since `{log.since}`" if log.since else ""
    lines = [f"# Changes to `{log.inventory}`{since}", ""]
    if not log.entries:
        lines += ["No changes.", ""]
    for entry in log.entries:
        lines += [*_md_entry(entry), ""]
    return "\n".join(lines)


def _md_entry(entry: Entry) -> Iterator[str]:
    if isinstance(entry, DeployEntry):
        yield f"## {entry.time} · deploy to {_md_escape(entry.host)}"
        yield ""
        yield f"- {_md_escape(_deploy_text(entry))}"
        return
    c = entry.commit
    yield f"## {c.date} · `{c.short}` · {_md_escape(c.author_name)} ({_md_escape(c.author_email)})"
    yield ""
    yield f"{_md_escape(c.subject)}"
    yield ""
    yield from (f"- {line.strip()}" if not line.startswith("    ") else f"  - {line.strip()}"
                for line in _commit_body(entry, "  ", _md_code))


RENDERERS: dict[str, Callable[[Changelog], str]] = {
    "text": render_text, "json": render_json, "markdown": render_markdown,
}
