"""What supervisord has read of a program, against what its bundle says.

supervisord reports each process's configuration as it read it (``getAllConfigInfo``), and
after a re-read that is already the new files' reading, before any group is added. It
differs from the bundle's `settings` when the file is not all that supervisord read: a
section of the same name in another file of its configuration merges into ours, the later
file winning.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Iterable, Mapping
from typing import Any

from hznctl.bundle.manifest import GroupEntry
from hznctl.targets.supervisord.options import LIVE

_EXPANSION = re.compile(r"%\((\w+)\)([-#0 +]*\d*(?:\.\d+)?[sdixr])")


def _expand(value: str, names: Mapping[str, object]) -> str:
    """Supervisor's %(name)s expansions of a manifest value (KeyError for unknown ones)."""
    return _EXPANSION.sub(lambda m: ("%" + m.group(2)) % names[m.group(1)], value)


def numbered(group: GroupEntry) -> list[tuple[int, str]]:
    """Each process of the group with its number: supervisord counts from numprocs_start
    (supervisor/options.py, ``processes_from_section``)."""
    return list(enumerate(group.process_names,
                          start=int(group.settings.get("numprocs_start", "0"))))


def expansion_names(name: str, group: GroupEntry, num: int, here: str) -> dict[str, object]:
    """The names supervisord expands in process ``num`` of program ``name``."""
    return {"program_name": name, "group_name": name, "process_num": num,
            "numprocs": group.processes, "host_node_name": platform.node(), "here": here}


def differences(settings: Mapping[str, str], live: Mapping[str, Any],
                names: Mapping[str, object]) -> list[tuple[str, Any, Any]]:
    """(option, live value, the bundle's value) for each reported option that differs."""
    diffs = []
    for key in sorted(set(settings) & set(LIVE)):
        live_key, convert = LIVE[key]
        if live_key not in live:
            continue
        try:
            wanted = convert(_expand(settings[key], names))
        except (KeyError, ValueError, TypeError):
            continue  # an ENV_ expansion or a user unknown here: supervisord's diff covers it
        if isinstance(wanted, str) and wanted.lower() in ("auto", "none"):
            wanted = wanted.lower()
        if live[live_key] != wanted:
            diffs.append((key, live[live_key], wanted))
    return diffs


def overridden(groups: Mapping[str, GroupEntry], config: Iterable[Mapping[str, Any]],
               here: str) -> dict[str, list[str]]:
    """The options of ``groups`` that supervisord read otherwise than the bundle says, by
    group (from ``config``, its ``getAllConfigInfo``); a group it does not report is left
    to the checks that it runs."""
    read = {(str(c["group"]), str(c["name"])): c for c in config}
    found: dict[str, list[str]] = {}
    for name, group in sorted(groups.items()):
        options: set[str] = set()
        for num, process in numbered(group):
            live = read.get((name, process))
            if live is not None:
                names = expansion_names(name, group, num, here)
                options.update(key for key, _, _ in differences(group.settings, live, names))
        if options:
            found[name] = sorted(options)
    return found
