"""Targets: the output formats of hosts, by name.

A target turns the compiler core's typed programs (``hznctl.compile.programs``: placement,
argv, exec specs, secret files, no syntax of any format) into the files of a host's
bundle, in its own syntax, with its own escaping and its own read-back. ``supervisord`` is
the first; each target is one package ``hznctl/targets/<name>/`` and one entry in
``TARGET_MODULES``, whose module holds the target as ``TARGET``.

Targets import the core, never the other way round: the pipeline (``hznctl.pipeline``)
chooses a host's target and calls its ``build``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # deploy imports a target's option table: not the inventory's loader
    from hznctl.bundle.manifest import HostBundle
    from hznctl.inventory import Inventory

DEFAULT = "supervisord"


class Target(Protocol):
    """What a target provides.

    - ``build``: the bundle of each of ``hosts`` (its files and its ``Manifest``) from the
      validated inventory, using the core's ``ProgramBuilder`` and ``HostCompiler``. A
      bundle must be the same bytes for the same inventory, and every file is read back
      with the format's own reader before it is returned (a ``CompileError`` otherwise).
      The manifest lists each program group as a ``GroupEntry``: what ``plan`` compares
      (files and their hashes, ``settings`` and ``parameters``), so a plan needs nothing
      more from a target.
    - ``build_each``: the same bundles one at a time, in the order of ``hosts``, each
      made when asked for (what a build shares between hosts let go once no host left
      needs it).
    - ``program_file``: the layout, where a group's file lies in the bundle.
    - ``live``: how what the host runs reports each option of ``GroupEntry.settings``:
      option -> (the key the runtime reports it under, the conversion of the written text
      to that value). Deploy and status compare with it; an empty mapping compares nothing.

    ``templates`` is the target's own template environment (None: the inventory's and the
    built-in templates); tests and benchmarks pass their own.
    """

    name: str

    def build(self, inventory: Inventory, hosts: Sequence[str], revision: str | None,
              templates: Any = None) -> dict[str, HostBundle]: ...

    def build_each(self, inventory: Inventory, hosts: Sequence[str], revision: str | None,
                   templates: Any = None) -> Iterator[tuple[str, HostBundle]]: ...

    def program_file(self, group: str) -> str: ...

    @property
    def live(self) -> Mapping[str, tuple[str, Any]]: ...


# Target name -> the module holding it as ``TARGET`` (imported when first used: validate
# never loads a target's renderer).
TARGET_MODULES: dict[str, str] = {
    "supervisord": "hznctl.targets.supervisord.target",
    "kubernetes": "hznctl.targets.kubernetes.target",
}


def target(name: str) -> Target:
    """The target called ``name`` (KeyError for an unknown one)."""
    found: Target = importlib.import_module(TARGET_MODULES[name]).TARGET
    return found
