"""An inventory validated beside another (``inventory.reusing``, what `plan --base` does
for the base revision) gets exactly the findings it gets validated alone.

Loaded beside another, it reuses the objects of files of the same bytes, and its rules
what the other's run found of them (a SOPS file's inspection, a document's literal
secrets and secret references, an application's findings in the same surroundings, a
connection's readers) and the placement of the applications that are the same objects on
the same hosts. Random edits on both sides, among them the ones those findings are about
(a secret file left in plaintext or removed, a literal password, a link out of the folder,
a group moved, a host relabelled, retired, removed, privileged, made a cluster or left
without a key, a connection deactivated, removed or moved to another environment), and
the findings and placements compared, the reused documents' file names mapped back.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.generate import generate_inventory, sizes
from hznctl.diagnostics import Diagnostic
from hznctl.inventory import display_path, reusing
from hznctl.placement import groups_by_host, placements, worker_hosts
from hznctl.validate import validate_inventory
from tests.support import EXAMPLE_INVENTORY

# Edits of an application itself, and of what its application rules read around it: the
# connections and hosts it names or runs on (deactivated, removed, moved to another
# environment, given privileges or another target), which change its findings while it
# stays the same object.
_KINDS = ["plaintext", "remove", "link-out", "literal", "queue", "stray", "deactivate", "pin",
          "relabel", "retire", "root", "timeout", "unknown-host", "rename",
          "collide", "conn-off", "conn-gone",
          "conn-env", "conn-sni", "host-gone", "host-env", "host-root", "host-cluster",
          "host-keyless"]
_edit = st.tuples(st.sampled_from(_KINDS), st.integers(0, 10_000))


def _pick(root: Path, folder: str, index: int) -> Path:
    files = sorted((root / folder).glob("*.yaml"))
    return files[index % len(files)]


def _applications(root: Path, index: int) -> list[tuple[Path, dict[str, Any]]]:
    """Every application's file and data, from the index-th on round."""
    files = sorted((root / "applications").glob("*.yaml"))
    start = index % len(files)
    return [(p, yaml.safe_load(p.read_text())) for p in files[start:] + files[:start]]


def _other_environment(data: dict[str, Any]) -> str:
    return "staging" if data.get("environment") == "production" else "production"


def _rewrite(path: Path, remove: bool, change: Any) -> None:
    """The object file at ``path`` removed, or its data changed by ``change``."""
    if remove:
        path.unlink()
    else:
        path.write_text(yaml.safe_dump(change(yaml.safe_load(path.read_text())),
                                       sort_keys=False))


def _apply(root: Path, source: Path, edit: tuple[str, int]) -> None:
    kind, index = edit
    if kind in ("plaintext", "remove", "link-out"):
        path = _pick(root, "secrets", index)
        path.unlink(missing_ok=True)
        if kind == "plaintext":
            path.write_text("password: hunter2\n")
        elif kind == "link-out":
            path.symlink_to(source / "secrets" / path.name)
    elif kind in ("literal", "queue", "deactivate", "pin", "root", "timeout", "unknown-host",
                  "rename"):
        path = _pick(root, "applications", index)
        app: dict[str, Any] = yaml.safe_load(path.read_text())
        if kind == "literal":
            app.setdefault("env", {})["DB_PASSWORD"] = "hunter2"
        elif kind == "queue":
            app["workers"][0].setdefault("queues", []).append("more")
        elif kind == "deactivate":
            app["active"] = False
        elif kind == "root":
            app["user"] = "root"
        elif kind == "timeout":
            app["workers"][0]["timeout"] = 0
        elif kind == "rename":  # another program name
            app["workers"][0]["name"] += "-renamed"
        elif kind == "unknown-host":
            app["workers"][0]["hosts"] = [_pick(root, "hosts", index).stem + "x"]
        else:  # its first group pinned to one host by name
            app["workers"][0]["hosts"] = [_pick(root, "hosts", index).stem]
        path.write_text(yaml.safe_dump(app, sort_keys=False))
    elif kind == "collide":  # a twin application whose program has a group's name
        # Of an application with a program per group (Horizon's groups share one).
        path, original = next((p, a) for p, a in _applications(root, index)
                              if a["runtime"] != "laravel-horizon")
        twin = {**yaml.safe_load(path.read_text()), "slug": f"{original['slug']}-c",
                "name": f"{original['name']} c"}
        original["workers"][0]["name"] = f"c-{original['workers'][0]['name']}"
        path.write_text(yaml.safe_dump(original, sort_keys=False))
        (path.parent / f"{path.stem}-c.yaml").write_text(yaml.safe_dump(twin, sort_keys=False))
    elif kind.startswith("conn-"):
        _rewrite(_pick(root, "connections", index), kind == "conn-gone", {
            "conn-off": lambda c: {**c, "active": False},
            "conn-env": lambda c: {**c, "environment": _other_environment(c)},
            "conn-sni": lambda c: {**c, "tls": {"enabled": True,
                                                 "server_name": "redis.internal"}},
        }.get(kind))
    elif kind in ("relabel", "retire") or kind.startswith("host-"):
        _rewrite(_pick(root, "hosts", index), kind == "host-gone", {
            "relabel": lambda h: {**h, "labels": {**h.get("labels", {}), "pool": "elsewhere"}},
            "retire": lambda h: {**h, "active": False},
            "host-env": lambda h: {**h, "environment": _other_environment(h)},
            "host-root": lambda h: {**h, "privileges": {"root": True, "paths": ["/opt"]}},
            "host-cluster": lambda h: {**h, "target": "kubernetes",
                                       "kubernetes": {"namespace": "queues"}},
            "host-keyless": lambda h: {k: v for k, v in h.items() if k != "age_recipient"},
        }.get(kind))
    else:
        (root / "secrets" / ("notes.yaml" if index % 2 else "old.json")).write_text(
            "token: plain\n")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Enough applications that a few edits leave most of the placement to take as it was.
    return generate_inventory(tmp_path_factory.mktemp("gen") / "inventory", **sizes(0.02))


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
    """The diagnostics with ``head``'s file names (as shown: relative to the working folder
    when below it) made ``base``'s."""
    def moved(text: str) -> str:
        return text.replace(str(head), str(base)).replace(display_path(head),
                                                          display_path(base))

    return sorted((moved(d.file), d.line, d.col, d.path, moved(d.message), d.severity,
                   d.code, d.hint) for d in diagnostics)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.booleans(), st.lists(_edit, max_size=4), st.lists(_edit, max_size=4))
def test_findings_beside_another_inventory_are_the_findings_alone(generated, large, head_edits,
                                                                   base_edits):
    source = generated if large else EXAMPLE_INVENTORY
    with tempfile.TemporaryDirectory() as tmp:
        head, base = Path(tmp, "head"), Path(tmp, "base")
        shutil.copytree(source, head)
        shutil.copytree(source, base)
        for edit in head_edits:
            _apply(head, source, edit)
        for edit in base_edits:
            _apply(base, source, edit)
        first = validate_inventory(head)
        placements(first.inventory)  # what plan --base has placed before the base
        alone = validate_inventory(base)
        with reusing(first.inventory, _same(head, base)):
            beside = validate_inventory(base)
        assert beside.inventory.earlier is not None
        assert (_shown(beside.diagnostics, head, base)
                == _shown(alone.diagnostics, base, base))
        # Placed alike, what was placed the same way there taken from there.
        assert worker_hosts(beside.inventory) == worker_hosts(alone.inventory)
        assert tuple(placements(beside.inventory)) == tuple(placements(alone.inventory))
        assert groups_by_host(beside.inventory) == groups_by_host(alone.inventory)
