"""Install mechanics and the deploy lock, without supervisord."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

from hznctl.deploy.install import Installation, InstallError
from hznctl.deploy.lock import LockTimeout, deploy_lock


def _bundle(root, files: dict[str, bytes]):
    root.mkdir(parents=True)
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    hashes = {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()}
    (root / "manifest.json").write_text(json.dumps({"files": hashes}))
    return hashes


def _installation(tmp_path) -> Installation:
    (tmp_path / "state").mkdir(mode=0o755)  # deploy checks and creates it first
    return Installation(tmp_path / "state", tmp_path / "include")


def test_stage_copies_verifies_and_reuses(tmp_path):
    files = {"programs/a.conf": b"[program:a]\ncommand=sleep 1\n", "exec/a.json": b"{}"}
    hashes = _bundle(tmp_path / "src", files)
    inst = _installation(tmp_path)
    ident = inst.stage(tmp_path / "src", hashes)
    staged = inst.bundle_dir(ident)
    assert (staged / "programs/a.conf").read_bytes() == files["programs/a.conf"]
    assert inst.stage(tmp_path / "src", hashes) == ident
    assert [p.name for p in inst.bundles.iterdir()] == [ident]


def test_stage_refuses_a_tampered_file_and_leaves_nothing(tmp_path):
    hashes = _bundle(tmp_path / "src", {"exec/a.json": b"{}"})
    (tmp_path / "src/exec/a.json").write_bytes(b'{"x": 1}')
    inst = _installation(tmp_path)
    with pytest.raises(InstallError, match="does not match the hash"):
        inst.stage(tmp_path / "src", hashes)
    assert list(inst.bundles.iterdir()) == []


@pytest.mark.parametrize("relpath", ["../escape.conf", "/etc/passwd", "programs/../../x"])
def test_stage_refuses_paths_outside_the_bundle(tmp_path, relpath):
    _bundle(tmp_path / "src", {})
    inst = _installation(tmp_path)
    with pytest.raises(InstallError, match="outside the bundle"):
        inst.stage(tmp_path / "src", {relpath: "0" * 64})


def test_links_grow_before_and_shrink_after_the_switch(tmp_path):
    inst = _installation(tmp_path)
    old = _bundle(tmp_path / "old", {"programs/a.conf": b"a", "programs/b.conf": b"b"})
    new = _bundle(tmp_path / "new", {"programs/b.conf": b"b2", "programs/c.conf": b"c"})
    old_id, new_id = inst.stage(tmp_path / "old", old), inst.stage(tmp_path / "new", new)
    inst.link_programs(sorted(old))
    inst.switch(old_id)
    inst.link_programs(sorted(new))
    # Before the switch c.conf dangles and a.conf still shows the old bundle.
    assert not (inst.include_dir / "c.conf").exists()
    assert (inst.include_dir / "a.conf").read_bytes() == b"a"
    inst.switch(new_id)
    assert not (inst.include_dir / "a.conf").exists()  # dangles: supervisord skips it
    assert (inst.include_dir / "b.conf").read_bytes() == b"b2"
    assert inst.unlink_programs(sorted(new)) == ["a.conf"]
    assert inst.previous_id() == old_id and inst.current_id() == new_id


def test_a_foreign_file_in_the_include_folder_is_never_replaced(tmp_path):
    inst = Installation(tmp_path / "state", tmp_path / "include")
    inst.include_dir.mkdir()
    (inst.include_dir / "a.conf").write_text("[program:a]\n")
    (inst.include_dir / "other.conf").symlink_to("/somewhere/else.conf")
    with pytest.raises(InstallError, match="not managed by hznctl"):
        inst.check_links(["programs/a.conf"])
    assert set(inst.managed_links()) == set()
    inst.unlink_programs([])
    assert (inst.include_dir / "other.conf").is_symlink()


def test_the_lock_waits_then_fails_clearly(tmp_path):
    with deploy_lock(tmp_path, timeout=1):
        began = time.monotonic()
        with pytest.raises(LockTimeout) as error, deploy_lock(tmp_path, timeout=0.2):
            pass
        assert time.monotonic() - began >= 0.2
    assert f"deploy pid {os.getpid()}" in str(error.value)
    assert "gave up after 0.2s" in str(error.value)
    with deploy_lock(tmp_path, timeout=0):
        pass  # released when its holder left


def test_no_installed_file_shares_an_inode_with_another(tmp_path):
    """An edit in place of one installed file (or of the compiled bundle) must never alter
    another bundle, least of all the rollback target: every file is its own copy."""
    inst = _installation(tmp_path)
    old = _bundle(tmp_path / "old", {"programs/a.conf": b"a", "programs/b.conf": b"b"})
    new = _bundle(tmp_path / "new", {"programs/a.conf": b"a", "programs/b.conf": b"b2"})
    old_id = inst.stage(tmp_path / "old", old)
    new_id = inst.stage(tmp_path / "new", new)
    paths = [inst.bundle_dir(i) / "programs/a.conf" for i in (old_id, new_id)]
    paths.append(tmp_path / "new/programs/a.conf")
    assert len({p.stat().st_ino for p in paths}) == 3
    for path in paths[:2]:
        assert path.stat().st_nlink == 1 and path.stat().st_mode & 0o777 == 0o444
        assert path.parent.stat().st_mode & 0o777 == 0o555
    assert (inst.bundle_dir(new_id) / "programs/b.conf").read_bytes() == b"b2"


def test_a_recycled_bundle_becomes_exactly_the_new_one_whatever_was_done_to_it(tmp_path):
    """Staging turns a bundle the deploy prunes anyway into the new one, keeping only files
    that are right: edited, linked, re-permissioned, added and misplaced ones are rewritten
    or removed, and the result verifies as freshly staged."""
    old = {"programs/a.conf": b"a1", "programs/b.conf": b"b", "exec/a.json": b"{}",
           "exec/b.json": b"{1}", "secrets/s.yaml": b"s"}
    inst = _installation(tmp_path)
    old_id = inst.stage(tmp_path / "old", _bundle(tmp_path / "old", old))
    tree = inst.bundle_dir(old_id)
    for folder in (tree, tree / "programs", tree / "exec", tree / "secrets"):
        os.chmod(folder, 0o755)
    (tree / "programs/b.conf").chmod(0o644)
    (tree / "programs/b.conf").write_bytes(b"edited by hand")  # same name in the new one
    os.unlink(tree / "exec/b.json")
    os.symlink("/etc/hostname", tree / "exec/b.json")  # a link where a file must be
    os.link(tree / "exec/a.json", tmp_path / "outside")  # a second link to a kept file
    (tree / "extra.conf").write_bytes(b"added")
    os.rename(tree / "programs", tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", tree / "programs")  # a folder link: never followed
    (tree / "secrets/sub").mkdir()
    (tree / "secrets/sub/x").write_bytes(b"x")
    (tree / "secrets/sub").chmod(0)  # closed: opened up to be deleted
    new = {"programs/a.conf": b"a2", "programs/b.conf": b"b", "exec/a.json": b"{}",
           "exec/b.json": b"{1}", "horizon/h.php": b"<?php"}
    hashes = _bundle(tmp_path / "new", new)
    ident = inst.stage(tmp_path / "new", hashes, recyclable=[old_id])
    assert not inst.bundle_dir(old_id).exists()
    assert inst.verify(ident, hashes) == []
    staged = inst.bundle_dir(ident)
    assert {str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file()} == {
        *new, "manifest.json"}
    for rel, data in new.items():
        assert (staged / rel).read_bytes() == data
    assert [p.name for p in inst.bundles.iterdir()] == [ident]
    assert not (staged / "programs").is_symlink()
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == ["a.conf", "b.conf"]
