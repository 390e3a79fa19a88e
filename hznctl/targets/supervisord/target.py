"""The supervisord target as the registry knows it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import jinja2

from hznctl.bundle.manifest import HostBundle
from hznctl.inventory import Inventory
from hznctl.targets.supervisord import build, layout, options


class SupervisordTarget:
    """Program files for a host's supervisord, which deploy reloads over XML-RPC."""

    name = "supervisord"

    def build(self, inventory: Inventory, hosts: Sequence[str], revision: str | None,
              templates: jinja2.Environment | None = None) -> dict[str, HostBundle]:
        return build.build_bundles(inventory, hosts, revision, templates)

    def build_each(self, inventory: Inventory, hosts: Sequence[str], revision: str | None,
                   templates: jinja2.Environment | None = None
                   ) -> Iterator[tuple[str, HostBundle]]:
        return build.build_each(inventory, hosts, revision, templates)

    def program_file(self, group: str) -> str:
        return layout.program_file(group)

    @property
    def live(self) -> Mapping[str, tuple[str, Callable[[str], Any]]]:
        return options.LIVE


TARGET = SupervisordTarget()
