"""Installed bundles against their manifest: any tree staged is intact, any one change by
hand to it is found (naming the file), and staging again puts back exactly the bundle."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hznctl.deploy.install import Installation, bundle_id
from hznctl.deploy.verify import verify_bundle

NAMES = st.sampled_from(["programs/a.conf", "programs/b.conf", "exec/a.json", "exec/b.json",
                         "secrets/s.yaml", "horizon/x.json", "top.txt"])
TREES = st.dictionaries(NAMES, st.binary(max_size=64), min_size=1, max_size=7)
TAMPERS = st.sampled_from(["edit", "delete", "chmod", "symlink", "add", "hardlink", "folder"])


def _source(root: Path, tree: dict[str, bytes]) -> tuple[Path, dict[str, str]]:
    files = {p: hashlib.sha256(d).hexdigest() for p, d in tree.items()}
    for rel, data in tree.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "manifest.json").write_text(repr(sorted(files.items())))
    return root, files


def _tamper(bundle: Path, rel: str, how: str, outside: Path) -> None:
    target = bundle / rel
    for folder in {target.parent, bundle}:
        folder.chmod(0o755)
    if how == "edit":
        target.chmod(0o644)
        target.write_bytes(target.read_bytes() + b"x")
        target.chmod(0o444)
    elif how == "delete":
        target.unlink()
    elif how == "chmod":
        target.chmod(0o644)
    elif how == "symlink":
        shutil.copy(target, outside)
        target.unlink()
        target.symlink_to(outside)
    elif how == "add":
        (target.parent / "stray.conf").write_text("[program:stray]\n")
    elif how == "hardlink":
        os.link(target, outside)
    else:
        target.unlink()
        target.mkdir()
    for folder in {target.parent, bundle}:
        folder.chmod(0o555)


@settings(max_examples=60, deadline=None)
@given(TREES, NAMES, TAMPERS)
def test_any_change_by_hand_is_found_and_staging_puts_the_bundle_back(tree, name, how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source, files = _source(root / "src", tree)
        inst = Installation(root / "state", root / "include")
        (root / "state").mkdir(mode=0o755)
        ident = inst.stage(source, files)
        assert ident == bundle_id(source)
        bundle = inst.bundle_dir(ident)
        assert verify_bundle(bundle, ident, files) == []
        for path in bundle.rglob("*"):
            mode = stat.S_IMODE(path.lstat().st_mode)
            assert mode == (0o555 if path.is_dir() else 0o444)
            assert path.is_dir() or path.stat().st_ino != (source / path.relative_to(
                bundle)).stat().st_ino

        rel = name if name in files else sorted(files)[0]
        _tamper(bundle, rel, how, root / "outside")
        found = verify_bundle(bundle, ident, files)
        assert found, (rel, how)
        expected = str(Path(rel).parent / "stray.conf") if how == "add" else rel
        assert expected in {t.path for t in found}, (found, rel, how)

        assert inst.stage(source, files) == ident
        assert verify_bundle(bundle, ident, files) == []
        for rel_path, data in tree.items():
            assert (bundle / rel_path).read_bytes() == data
        if (root / "outside").exists() and how in ("symlink",):
            assert (root / "outside").read_bytes() == tree[rel]  # never written through
        for path in bundle.rglob("*"):
            if path.is_dir():
                path.chmod(0o755)  # let the temporary folder go


def test_a_manifest_edited_by_hand_is_found():
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source, files = _source(root / "src", {"programs/a.conf": b"[program:a]\n"})
        inst = Installation(root / "state", root / "include")
        (root / "state").mkdir(mode=0o755)
        ident = inst.stage(source, files)
        manifest = inst.bundle_dir(ident) / "manifest.json"
        manifest.chmod(0o644)
        manifest.write_text("{}")
        manifest.chmod(0o444)
        assert [t.text() for t in verify_bundle(inst.bundle_dir(ident), ident, files)] == [
            "manifest.json edited on the host"]
        for path in [inst.bundle_dir(ident), *inst.bundle_dir(ident).rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
