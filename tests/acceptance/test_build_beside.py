"""Bundles built beside another inventory's (``building_beside``: `plan --base` builds the
changed hosts of both revisions) are byte for byte the bundles built alone: random edits
to two copies of the inventory (worker groups, connections, secrets, templates, hosts,
project defaults), the second loaded beside the first as `plan --base` loads it, then
every host of both built alone and built beside."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hznctl.inventory import reusing
from hznctl.pipeline import build_bundles
from hznctl.targets.supervisord.build import building_beside
from hznctl.validate import validate_inventory
from tests.acceptance.test_plan_incremental import _apply, _edit
from tests.support import EXAMPLE_INVENTORY


def _same(one: Path, other: Path) -> set[str]:
    return {p.relative_to(one).as_posix() for p in one.rglob("*")
            if p.is_file() and (other / p.relative_to(one)).is_file()
            and p.read_bytes() == (other / p.relative_to(one)).read_bytes()}


def _files(bundles: dict) -> dict:  # type: ignore[type-arg]
    return {host: (bundle.manifest, bundle.files) for host, bundle in bundles.items()}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(_edit, max_size=3), st.lists(_edit, max_size=3), st.booleans())
def test_bundles_built_beside_are_the_bundles_built_alone(first_edits, second_edits,
                                                          same_templates) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        first, second = Path(tmp, "first"), Path(tmp, "second")
        shutil.copytree(EXAMPLE_INVENTORY, first)
        shutil.copytree(EXAMPLE_INVENTORY, second)
        for edit in first_edits:
            _apply(first, edit)
        for edit in second_edits:
            _apply(second, edit)
        head = validate_inventory(first)
        with reusing(head.inventory, _same(first, second)):
            base = validate_inventory(second)
        assume(head.ok() and base.ok())  # only a valid inventory is built
        templates_alike = not any(e[0] == "template" for e in first_edits + second_edits)
        alone = (_files(build_bundles(head.inventory, revision="a")),
                 _files(build_bundles(base.inventory, revision="b")))
        # Told the templates are the same only when they are.
        with building_beside(same_templates and templates_alike):
            beside = (_files(build_bundles(head.inventory, revision="a")),
                      _files(build_bundles(base.inventory, revision="b")))
        assert beside == alone
