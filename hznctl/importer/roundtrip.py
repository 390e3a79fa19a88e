"""The round-trip proof: each imported program next to what the new inventory compiles to.

Both sides are read the same way, by supervisor's parser and datatypes, with supervisord's
defaults for what a side does not set, so the differences are what the first deploy will
really change.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hznctl.importer.build import Imported
from hznctl.importer.commands import recognise
from hznctl.importer.source import _parse

# option -> supervisord's default when a file does not set it (supervisor/options.py,
# ServerOptions._processes_from_section).
_DEFAULTS = {
    "numprocs": "1", "directory": "(supervisord's folder)", "user": "(supervisord's user)",
    "autostart": "true", "autorestart": "unexpected", "startsecs": "1", "startretries": "3",
    "stopsignal": "TERM", "stopwaitsecs": "10", "stopasgroup": "false", "priority": "999",
    "redirect_stderr": "false", "numprocs_start": "0", "umask": "(supervisord's umask)",
}
_BOOLEANS = {"autostart", "stopasgroup", "killasgroup", "redirect_stderr"}


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


@dataclass
class Difference:
    """One imported program: where it came from, what it became, what changes."""

    source: str
    where: str
    program: str
    changes: list[Change] = field(default_factory=list)
    note: str = ""


def _normal(option: str, value: str | None, values: dict[str, str]) -> str:
    if value is None:
        if option == "killasgroup":
            return _normal("stopasgroup", values.get("stopasgroup"), values)
        return _DEFAULTS.get(option, "")
    value = value.strip()
    if option in _BOOLEANS:
        from supervisor.datatypes import boolean

        try:
            return "true" if boolean(value) else "false"
        except ValueError:
            return value
    if option == "stopsignal":
        return value.upper().removeprefix("SIG")
    return value


def _unwrap(words: list[str]) -> list[str]:
    """The worker's own words from `hznctl exec --spec FILE -- ARGV`."""
    if len(words) > 1 and words[1] == "exec" and "--" in words:
        return words[words.index("--") + 1:]
    return words


def _compiled(root: Path, host: str) -> dict[str, bytes]:
    from hznctl.pipeline import compile_inventory

    result = compile_inventory(root, hosts=[host], jobs=1)
    bundle = result.bundles.get(host)
    return dict(bundle.files) if bundle is not None else {}


def _env_names(program: str, values: dict[str, str], files: dict[str, bytes]) -> list[str]:
    from supervisor.datatypes import dict_of_key_value_pairs

    names = set(dict_of_key_value_pairs(values.get("environment", "")))
    spec = files.get(f"exec/{program}.json")
    if spec is not None:
        data = json.loads(spec)
        for part in ("env", "secrets", "urls"):
            names |= set(data.get(part, {}))
    return sorted(names)


def compare(programs: Sequence[Imported], root: Path, host: str) -> list[Difference]:
    files = _compiled(root, host)
    out = []
    for imported in programs:
        source = imported.source
        name = f"{imported.application}-{imported.group}"
        if imported.recognized.runtime == "laravel-horizon":
            name = f"{imported.application}-horizon"
        difference = Difference(source.name, f"{source.file}:{source.line}", name)
        out.append(difference)
        text = files.get(f"programs/{name}.conf")
        if text is None:
            difference.note = ("not compiled for this host: the application has no worker "
                               "groups here yet")
            continue
        parser = _parse(text.decode("utf-8"), name)
        compiled = {o: parser.get(f"program:{name}", o) for o in parser.options(
            f"program:{name}")}
        after_words = _unwrap(shlex.split(compiled["command"]))
        changes = difference.changes
        if after_words != imported.words:
            changes.append(Change("command", shlex.join(imported.words), shlex.join(after_words)))
        before_queues = imported.recognized.worker.get("queues", [])
        after_queues = recognise(after_words).worker.get("queues", [])
        if before_queues != after_queues:
            changes.append(Change("queues", ",".join(before_queues), ",".join(after_queues)))
        original = dict(source.values)
        if imported.recognized.directory and "directory" not in original:
            original["directory"] = imported.recognized.directory
        for option in ("numprocs", "directory", "user", "autostart", "autorestart",
                       "startsecs", "startretries", "stopsignal", "stopwaitsecs", "stopasgroup",
                       "killasgroup", "priority", "redirect_stderr", "numprocs_start",
                       "umask"):
            before = _normal(option, original.get(option), original)
            after = _normal(option, compiled.get(option), compiled)
            if before != after:
                changes.append(Change(option, before, after))
        before_env = sorted(_env_names("", {"environment": original.get("environment", "")},
                                       {}))
        after_env = _env_names(name, compiled, files)
        if before_env != after_env:
            changes.append(Change("environment names", ",".join(before_env) or "(none)",
                                  ",".join(after_env) or "(none)"))
    return out
