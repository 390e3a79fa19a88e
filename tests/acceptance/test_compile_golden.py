"""Golden bundles: each case's inventory compiles to exactly its expected/ folder.

A case is a folder tests/golden/<case>/ with `inventory/` and `expected/`; adding a case
is adding a folder. HZNCTL_UPDATE_GOLDEN=1 rewrites expected/ (review the diff).
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.compile_support import GOLDEN, compile_to, tree

CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "inventory").is_dir())


@pytest.mark.parametrize("case", CASES)
def test_golden_bundles(case, tmp_path):
    out = tmp_path / "bundles"
    compile_to(GOLDEN / case / "inventory", out)
    expected = GOLDEN / case / "expected"
    if os.environ.get("HZNCTL_UPDATE_GOLDEN"):
        shutil.rmtree(expected, ignore_errors=True)
        shutil.copytree(out, expected)
    got, want = tree(out), tree(expected)
    assert sorted(got) == sorted(want)
    for path in want:
        assert got[path] == want[path], f"{case}: {path} differs from the golden file"


def test_golden_cases_cover_every_runtime():
    from hznctl.bundle.manifest import read_bundles
    from hznctl.models import Runtime

    runtimes = set()
    for case in CASES:
        for manifest in read_bundles(GOLDEN / case / "expected").values():
            runtimes.update(g.runtime for g in manifest.groups.values())
    assert runtimes == {r.value for r in Runtime}
