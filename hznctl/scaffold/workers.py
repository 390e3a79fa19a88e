"""Adding a worker group to an application file as a text edit, so that the operator's
comments, order and formatting stay as they were."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hznctl.errors import HznctlError
from hznctl.inventory import display_path
from hznctl.scaffold.objects import WorkerSpec, dump, object_path, worker_data
from hznctl.yamlio import YamlProblem, load_document


def add_worker(text: str, worker: dict[str, Any], where: str) -> str:
    """``text`` (an application file) with ``worker`` appended to its ``workers:`` list."""
    root = yaml.compose(text, Loader=yaml.CSafeLoader)
    if not isinstance(root, MappingNode):
        raise HznctlError(f"{where}: not a mapping of application fields")
    workers = _value(root, "workers")
    if workers is None:
        return _ensure_newline(text) + "workers:\n" + _item(worker, 4)
    if isinstance(workers, ScalarNode) and workers.value in ("", "~", "null"):
        return _replace_empty(text, workers, worker)
    if not isinstance(workers, SequenceNode):
        raise HznctlError(f"{where}:{workers.start_mark.line + 1}: workers is not a list")
    if workers.flow_style:
        if workers.value:
            raise HznctlError(f"{where}:{workers.start_mark.line + 1}: workers is written "
                              "as a [flow, list]; write it as a block list (one '- ' per "
                              "worker group) to add to it")
        start, end = workers.start_mark.index, workers.end_mark.index
        rest = text[end:].lstrip(" ")
        rest = rest[1:] if rest.startswith("\n") else rest
        return text[:start].rstrip() + "\n" + _item(worker, 4) + rest
    return _append_item(text, workers, worker)


def _replace_empty(text: str, workers: ScalarNode, worker: dict[str, Any]) -> str:
    """`workers:` with no value (or ~, null): the line gets the list under it instead."""
    lines = text.splitlines(keepends=True)
    line = workers.start_mark.line
    head = lines[line]
    if workers.value:  # `workers: ~`: keep the key, drop the null
        head = head[:workers.start_mark.column].rstrip() + "\n"
    elif not head.rstrip().endswith(":"):  # the empty value sits on a later line
        line, head = line - 1, lines[line - 1]
    return "".join(lines[:line]) + _ensure_newline(head) + _item(worker, 4) + "".join(
        lines[line + 1:])


def _value(mapping: MappingNode, key: str) -> Node | None:
    for key_node, value_node in mapping.value:
        if key_node.value == key:
            found: Node = value_node
            return found
    return None


def _append_item(text: str, workers: SequenceNode, worker: dict[str, Any]) -> str:
    lines = text.splitlines(keepends=True)
    first = workers.value[0].start_mark
    dash = lines[first.line].rfind("-", 0, first.column)
    last = workers.value[-1].end_mark
    # A block node ends where the next token starts: at column 0 of a later line, or
    # inside its own last line.
    insert_at = last.line if last.column == 0 else last.line + 1
    while insert_at > first.line + 1 and _blank_or_comment(lines[insert_at - 1]):
        insert_at -= 1  # blank lines and comments after the last item stay after the new one
    block = _item(worker, dash + 2)
    head = "".join(lines[:insert_at])
    return _ensure_newline(head) + block + "".join(lines[insert_at:])


def _blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _item(worker: dict[str, Any], indent: int) -> str:
    body = dump(worker).splitlines()
    pad = " " * indent
    out = [" " * (indent - 2) + "- " + body[0]]
    out += [pad + line if line else line for line in body[1:]]
    return "\n".join(out) + "\n"


def _ensure_newline(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def add_worker_to_file(inventory: Path, spec: WorkerSpec) -> tuple[str, str]:
    """The application file's new text with the worker group ``spec`` added."""
    relative = object_path("application", spec.application)
    path = inventory / relative
    try:
        document = load_document(path, display_path(path))
    except YamlProblem as problem:
        if not path.exists():
            raise HznctlError(f"no application {spec.application!r} ({display_path(path)} "
                              "does not exist)") from None
        raise HznctlError(f"{display_path(path)}:{problem.line}:{problem.col}: {problem}"
                          ) from None
    workers = document.data.get("workers") if isinstance(document.data, dict) else None
    names = [w.get("name") for w in workers or [] if isinstance(w, dict)]
    if spec.name in names:
        raise HznctlError(f"{display_path(path)}: application {spec.application} already has "
                          f"a worker group {spec.name!r}; nothing was written")
    text = path.read_text(encoding="utf-8")
    return relative, add_worker(text, worker_data(spec), display_path(path))
