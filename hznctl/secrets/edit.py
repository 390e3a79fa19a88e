"""Small edits to inventory files that keep the operator's comments and layout.

Each edit splices text at the places the YAML parser marks, then re-reads the result and
checks that exactly the intended value changed; otherwise nothing is written and the
operator is told what to add by hand.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hznctl.atomic import write_text
from hznctl.secrets.errors import SecretError
from hznctl.yamlio import Document, YamlProblem, parse_document


def _read(path: Path) -> tuple[str, Document]:
    try:
        raw = path.read_bytes()
        return raw.decode("utf-8").removeprefix("\ufeff"), parse_document(raw, path, str(path))
    except (OSError, UnicodeDecodeError, YamlProblem) as exc:
        raise SecretError(f"cannot edit {path}: {getattr(exc, 'message', exc)}") from None


def _child(node: Node | None, key: str) -> tuple[Node, Node] | None:
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == key:
                return key_node, value_node
    return None


def _append_block(text: str, block: str) -> str:
    return (text if text.endswith("\n") or not text else text + "\n") + block


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    end = text.find("\n", index)
    return len(text) if end < 0 else end


def _commit(path: Path, before: Document, text: str, expect: Callable[[Any], Any],
            what: str) -> bool:
    """Write ``text`` if it parses to ``expect(old data)``; False when nothing changes."""
    try:
        wanted = expect(copy.deepcopy(before.data))
    except (AttributeError, TypeError):  # the file's shape is not what the edit expects
        raise SecretError(f"could not edit {path} automatically: {what}") from None
    if wanted == before.data:
        return False
    try:
        after = parse_document(text.encode("utf-8"), path, str(path))
    except YamlProblem:
        after = None
    if after is None or after.data != wanted:
        raise SecretError(f"could not edit {path} automatically: {what}")
    write_text(path, text)
    return True


def set_top_level_scalar(path: Path, key: str, value: str) -> bool:
    """Set ``key: value`` at the top of a mapping file (host age_recipient)."""
    text, doc = _read(path)
    found = _child(doc.root, key)
    if found is None:
        new_text = _append_block(text, f"{key}: {value}\n")
    else:
        value_node = found[1]
        new_text = (text[: value_node.start_mark.index] + value
                    + text[value_node.end_mark.index:])

    def expect(data: Any) -> Any:
        data[key] = value
        return data

    return _commit(path, doc, new_text, expect, f"set `{key}: {value}` yourself")


def set_secret_reference(path: Path, field: str, file: str, key: str) -> bool:
    """Point ``field`` (a connection's password) at ``file``/``key`` if it is unset."""
    text, doc = _read(path)
    found = _child(doc.root, field)
    block = f"{field}:\n  sops: {file}\n  key: {key}\n"
    if found is None:
        new_text = _append_block(text, block)
    else:
        key_node, value_node = found
        if not (isinstance(value_node, ScalarNode) and value_node.value in ("", "~", "null")):
            return False  # already set: the caller uses what it references
        start = _line_start(text, key_node.start_mark.index)
        new_text = text[:start] + block + text[_line_end(text, value_node.end_mark.index) + 1:]

    def expect(data: Any) -> Any:
        data[field] = {"sops": file, "key": key}
        return data

    return _commit(path, doc, new_text, expect,
                   f"add `{field}: {{sops: {file}, key: {key}}}` yourself")


def add_health_recipient(path: Path, recipient: str) -> bool:
    """Add ``recipient`` to project.yaml ``health.recipients`` (keeping the others)."""
    text, doc = _read(path)
    health = _child(doc.root, "health")
    if health is None:
        new_text = _append_block(text, f"health:\n  recipients:\n    - {recipient}\n")
    else:
        new_text = _with_recipient(text, health[1], recipient)

    def expect(data: Any) -> Any:
        recipients = data.setdefault("health", {}).setdefault("recipients", [])
        if recipient not in recipients:
            recipients.append(recipient)
        return data

    return _commit(path, doc, new_text, expect,
                   f"add {recipient} under health.recipients yourself")


def _with_recipient(text: str, health: Node, recipient: str) -> str:
    found = _child(health, "recipients")
    if not isinstance(health, MappingNode) or not health.value:
        return text  # unusual layout: _commit reports it
    if found is None:
        first_key = health.value[0][0]
        indent = " " * first_key.start_mark.column
        start = _line_start(text, first_key.start_mark.index)
        return (text[:start] + f"{indent}recipients:\n{indent}  - {recipient}\n"
                + text[start:])
    seq = found[1]
    if isinstance(seq, SequenceNode) and seq.value and not seq.flow_style:
        last = seq.value[-1]
        line_start = _line_start(text, last.start_mark.index)
        prefix = text[line_start:last.start_mark.index]
        end = _line_end(text, last.end_mark.index)
        return text[:end] + "\n" + prefix + recipient + text[end:]
    items = [str(node.value) for node in getattr(seq, "value", []) or []
             if isinstance(node, ScalarNode)]
    flow = "[" + ", ".join([*items, recipient]) + "]"
    return text[: seq.start_mark.index] + flow + text[seq.end_mark.index:]
