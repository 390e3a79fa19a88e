"""Giving an existing worker group one more host, as a text edit of its application file."""

from __future__ import annotations

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hznctl.importer.source import ImportError_
from hznctl.scaffold.objects import dump


def _value(mapping: MappingNode, key: str) -> Node | None:
    for key_node, value_node in mapping.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            found: Node = value_node
            return found
    return None


def add_host(text: str, index: int, host: str, where: str) -> str:
    """``text`` with ``host`` added to the ``hosts:`` of ``workers[index]``."""
    root = yaml.compose(text, Loader=yaml.CSafeLoader)
    workers = _value(root, "workers") if isinstance(root, MappingNode) else None
    if not isinstance(workers, SequenceNode) or not isinstance(
            item := workers.value[index], MappingNode):
        raise ImportError_(f"{where}: workers[{index}] is not a worker group")
    hosts = _value(item, "hosts")
    if hosts is None:
        first = item.value[0][0].start_mark
        lines = text.splitlines(keepends=True)
        insert = " " * first.column + "hosts: " + dump([host]).strip() + "\n"
        return str("".join(lines[:first.line + 1]) + insert + "".join(lines[first.line + 1:]))
    if not isinstance(hosts, SequenceNode):
        raise ImportError_(f"{where}:{hosts.start_mark.line + 1}: hosts is not a list")
    names = [n.value for n in hosts.value if isinstance(n, ScalarNode)]
    if host in names:
        return text
    if hosts.flow_style or not hosts.value:
        start, end = hosts.start_mark.index, hosts.end_mark.index
        return str(text[:start] + dump([*names, host]).strip() + text[end:])
    last = hosts.value[-1].end_mark
    lines = text.splitlines(keepends=True)
    dash = lines[hosts.value[0].start_mark.line].rfind("-", 0, hosts.value[0].start_mark.column)
    entry = " " * dash + "- " + dump(host).strip().removesuffix("...").strip() + "\n"
    at = last.line + 1 if last.column else last.line
    head = "".join(lines[:at])
    return str((head if head.endswith("\n") else head + "\n") + entry + "".join(lines[at:]))
