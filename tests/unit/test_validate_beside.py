"""An inventory validated beside another (``inventory.reusing``, what `plan --base` does
for the base revision) gets exactly the findings it gets validated alone.

Loaded beside another, it reuses the objects of files of the same bytes, and its rules
what the other's run found of them (a SOPS file's inspection, a document's literal
secrets). Random edits on both sides, among them the ones those findings are about (a
secret file left in plaintext or removed, a literal password, a link out of the folder),
and the findings compared, the reused documents' file names mapped back.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hznctl.diagnostics import Diagnostic
from hznctl.inventory import reusing
from hznctl.validate import validate_inventory
from tests.support import EXAMPLE_INVENTORY

_APPS = sorted(p.name for p in (EXAMPLE_INVENTORY / "applications").glob("*.yaml"))
_SECRETS = sorted(p.name for p in (EXAMPLE_INVENTORY / "secrets").glob("*.yaml"))

_edit = st.one_of(
    st.tuples(st.just("plaintext"), st.sampled_from(_SECRETS)),
    st.tuples(st.just("remove"), st.sampled_from(_SECRETS)),
    st.tuples(st.just("link-out"), st.sampled_from(_SECRETS)),
    st.tuples(st.just("literal"), st.sampled_from(_APPS)),
    st.tuples(st.just("queue"), st.sampled_from(_APPS)),
    st.tuples(st.just("stray"), st.sampled_from(["notes.yaml", "old.json"])),
)


def _apply(root: Path, edit: tuple[str, str]) -> None:
    kind, name = edit
    if kind in ("plaintext", "remove", "link-out"):
        path = root / "secrets" / name
        path.unlink(missing_ok=True)
        if kind == "plaintext":
            path.write_text("password: hunter2\n")
        elif kind == "link-out":
            path.symlink_to(EXAMPLE_INVENTORY / "secrets" / name)
    elif kind in ("literal", "queue"):
        path = root / "applications" / name
        app: dict[str, Any] = yaml.safe_load(path.read_text())
        if kind == "literal":
            app.setdefault("env", {})["DB_PASSWORD"] = "hunter2"
        else:
            app["workers"][0].setdefault("queues", []).append("more")
        path.write_text(yaml.safe_dump(app, sort_keys=False))
    else:
        (root / "secrets" / name).write_text("token: plain\n")


def _same(one: Path, other: Path) -> set[str]:
    same = set()
    for path in one.rglob("*"):
        rel = path.relative_to(one).as_posix()
        twin = other / rel
        if (path.is_file() and not path.is_symlink() and twin.is_file()
                and not twin.is_symlink() and path.read_bytes() == twin.read_bytes()):
            same.add(rel)
    return same


def _shown(diagnostics: list[Diagnostic], head: Path, base: Path) -> list[tuple[Any, ...]]:
    return sorted((d.file.replace(str(head), str(base)), d.line, d.col, d.path,
                   d.message.replace(str(head), str(base)), d.severity, d.code, d.hint)
                  for d in diagnostics)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_edit, max_size=3), st.lists(_edit, max_size=3))
def test_findings_beside_another_inventory_are_the_findings_alone(head_edits, base_edits):
    with tempfile.TemporaryDirectory() as tmp:
        head, base = Path(tmp, "head"), Path(tmp, "base")
        shutil.copytree(EXAMPLE_INVENTORY, head)
        shutil.copytree(EXAMPLE_INVENTORY, base)
        for edit in head_edits:
            _apply(head, edit)
        for edit in base_edits:
            _apply(base, edit)
        first = validate_inventory(head)
        alone = validate_inventory(base)
        with reusing(first.inventory, _same(head, base)):
            beside = validate_inventory(base)
        assert beside.inventory.earlier is not None
        assert (_shown(beside.diagnostics, head, base)
                == _shown(alone.diagnostics, base, base))
