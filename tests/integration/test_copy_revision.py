"""`gitrev.copy_revision`, the copy `plan --base` makes of the base revision, is the copy
`materialize` makes (``git archive`` of the whole folder) whatever the working tree
holds, and it never writes to the working tree it takes files from.

The working tree is the caller's: its files the same as the revision's are hard links
in the copy, so one write through the copy would edit the operator's checkout. Checked
with real git on random trees: files kept, edited, added, removed, turned into links,
ignored, and a revision whose tree itself holds a link out of the folder.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hznctl import gitrev
from hznctl.gitrev import copy_revision, materialize
from hznctl.plan.digest import read_inputs
from hznctl.readfile import blob_id

_NAMES = ["project.yaml", "applications/a.yaml", "applications/b.yml", "hosts/h.yaml",
          "secrets/s.yaml", "templates/rq.conf.j2", "deep/er/x.txt", "odd name [*].yaml"]
_CONTENT = st.sampled_from([b"", b"a: 1\n", b"a: 2\n", b"line\r\nother\r\n", bytes(range(256))])


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", *args],
                          cwd=repo, check=True, capture_output=True).stdout.decode()


def _tree(root: Path) -> dict[str, tuple[bytes, bool]]:
    """Every file under ``root``: its bytes (a link: its target) and whether it is a link."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = (os.readlink(path).encode(), True)
            else:
                found[rel] = (path.read_bytes(), False)
    return found


def _state(root: Path) -> dict[str, tuple[bytes, bool, int, int]]:
    """``_tree`` with each regular file's inode and modification time."""
    state = {}
    for rel, (data, link) in _tree(root).items():
        info = os.lstat(root / rel)
        state[rel] = (data, link, info.st_ino, info.st_mtime_ns)
    return state


_edit = st.tuples(st.sampled_from(["keep", "edit", "remove", "link", "add"]),
                  st.sampled_from(_NAMES), _CONTENT)


def _make(repo: Path, base: dict[str, bytes], edits: list[tuple[str, str, bytes]]) -> Path:
    root = repo / "inventory"
    for rel, data in base.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    root.mkdir(parents=True, exist_ok=True)
    (root / "escape").symlink_to("/etc/hostname")  # a link in the revision's own tree
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base", "--allow-empty")
    for kind, rel, data in edits:
        path = root / rel
        if kind == "edit" and path.is_file():
            path.write_bytes(data + b"#")
        elif kind == "remove" and path.exists():
            path.unlink()
        elif kind == "link" and path.is_file() and not path.is_symlink():
            target = path.with_name(path.name + ".target")
            path.rename(target)
            path.symlink_to(target.name)
        elif kind == "add" and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return root


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=st.dictionaries(st.sampled_from(_NAMES), _CONTENT, max_size=len(_NAMES)),
       edits=st.lists(_edit, max_size=6), many=st.booleans())
def test_the_copy_is_the_archived_revision_and_the_working_tree_is_untouched(
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
        base: dict[str, bytes], edits: list[tuple[str, str, bytes]], many: bool) -> None:
    repo = tmp_path_factory.mktemp("repo")
    root = _make(repo, base, edits)
    commit = _git(repo, "rev-parse", "HEAD").strip()
    before = _state(root)
    inputs = read_inputs(root)
    with monkeypatch.context() as patch:
        if many:  # past the command line's budget: the whole revision archived, some written
            patch.setattr(gitrev, "_MAX_ARGUMENTS", 0)
        copied = copy_revision(root, commit, tmp_path_factory.mktemp("copy"), inputs.local)
    archived = materialize(root, commit, tmp_path_factory.mktemp("archive"))

    assert _tree(copied.root) == _tree(archived)
    assert not any(link for _, link in _tree(copied.root).values())
    assert _state(root) == before  # not one byte, inode or time of the checkout changed
    # What it says it wrote, with git's own blob ids.
    assert set(copied.blobs) == set(_tree(copied.root))
    for rel, blob in copied.blobs.items():
        assert blob == blob_id((copied.root / rel).read_bytes())
        assert blob == _git(repo, "rev-parse", f"{commit}:inventory/{rel}").strip()
    # The files the working tree holds alike are taken from it, the others from git.
    for rel in copied.blobs:
        shared = os.stat(copied.root / rel).st_ino == os.stat(root / rel).st_ino if (
            root / rel).exists() else False
        assert shared == (rel in inputs.local and inputs.local[rel].blob == copied.blobs[rel])


def test_the_files_validated_are_taken_as_read_and_the_others_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`plan --base` takes the blob ids of the files its validation read from their
    documents: the same inputs as reading every file, without reading those again."""
    from hznctl.plan import digest
    from hznctl.validate import validate_inventory
    from tests.support import EXAMPLE_INVENTORY

    root = tmp_path / "inventory"
    shutil.copytree(EXAMPLE_INVENTORY, root)
    apps = root / "applications"
    (apps / "mailer.yaml").rename(root / "mailer.yaml")
    (apps / "mailer.yaml").symlink_to("../mailer.yaml")  # read through a link inside
    documents = validate_inventory(root).inventory.documents.values()
    read = {os.fspath(doc.path): doc.blob for doc in documents}
    assert len(read) > 10 and all(read.values())
    opened: list[str] = []
    real = digest.read_regular

    def counted(path: str | Path, limit: int) -> bytes:
        opened.append(os.fspath(path))
        return real(path, limit)

    monkeypatch.setattr(digest, "read_regular", counted)
    taken = digest.read_inputs(root, read)
    assert opened and not set(opened) & set(read)  # the secrets, templates, …: read
    opened.clear()
    assert taken == digest.read_inputs(root)
    assert set(opened) >= set(read)
    assert "applications/mailer.yaml" not in taken.local  # a link: never linked to


def test_a_copy_on_another_file_system_copies_what_it_cannot_link(tmp_path: Path) -> None:
    memory = Path("/dev/shm")
    if not memory.is_dir() or os.stat(memory).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on another file system than the test's folder")
    root = _make(tmp_path, {"project.yaml": b"a: 1\n", "hosts/h.yaml": b"b: 2\n"}, [])
    commit = _git(tmp_path, "rev-parse", "HEAD").strip()
    dest = Path(tempfile.mkdtemp(dir=memory))
    try:
        copied = copy_revision(root, commit, dest, read_inputs(root).local)
        assert _tree(copied.root) == _tree(materialize(root, commit, tmp_path / "archive"))
        assert os.stat(copied.root / "project.yaml").st_ino != os.stat(
            root / "project.yaml").st_ino
    finally:
        shutil.rmtree(dest)


def test_end_of_line_conversion_is_what_a_checkout_applies(tmp_path: Path) -> None:
    """A file checked out through a conversion differs from its blob: it is read from git
    with the conversion applied, as `git archive` (and a checkout) applies it."""
    root = tmp_path / "inventory"
    root.mkdir()
    (root / ".gitattributes").write_text("*.yaml eol=crlf\n")
    (root / "project.yaml").write_bytes(b"a: 1\nb: 2\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "base")
    (root / "project.yaml").unlink()
    _git(tmp_path, "checkout", "--", "inventory/project.yaml")
    assert (root / "project.yaml").read_bytes() == b"a: 1\r\nb: 2\r\n"
    commit = _git(tmp_path, "rev-parse", "HEAD").strip()
    copied = copy_revision(root, commit, tmp_path / "copy", read_inputs(root).local)
    assert (copied.root / "project.yaml").read_bytes() == b"a: 1\r\nb: 2\r\n"
    assert _tree(copied.root) == _tree(materialize(root, commit, tmp_path / "archive"))


def test_a_folder_missing_at_the_revision_is_an_empty_inventory(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "f").write_text("x")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "base")
    root = tmp_path / "inventory"
    root.mkdir()
    (root / "project.yaml").write_text("a: 1\n")
    commit = _git(tmp_path, "rev-parse", "HEAD").strip()
    copied = copy_revision(root, commit, tmp_path / "copy", read_inputs(root).local)
    assert copied.blobs == {} and _tree(copied.root) == {}


def test_the_copy_never_holds_a_writable_path_into_the_checkout_through_a_link(
        tmp_path: Path) -> None:
    """A file of the working tree that is a link is never linked to: the copy's file is
    git's bytes in a file of its own."""
    root = _make(tmp_path, {"secrets/s.yaml": b"a: 1\n"}, [("link", "secrets/s.yaml", b"")])
    commit = _git(tmp_path, "rev-parse", "HEAD").strip()
    inputs = read_inputs(root)
    assert "secrets/s.yaml" not in inputs.local  # a link: not offered
    copied = copy_revision(root, commit, tmp_path / "copy", inputs.local)
    info = os.lstat(copied.root / "secrets" / "s.yaml")
    assert stat.S_ISREG(info.st_mode) and info.st_nlink == 1


def test_reading_the_working_tree_never_blocks_on_a_fifo_or_a_device(tmp_path: Path) -> None:
    """Whoever has a shell on the machine can leave a FIFO or a link to a device in the
    inventory: the plan's reading of the working tree neither blocks on one nor reads one
    without end, and offers neither to the copy."""
    root = tmp_path / "inventory"
    (root / "secrets").mkdir(parents=True)
    (root / "project.yaml").write_text("a: 1\n")
    os.mkfifo(root / "secrets" / "pipe.yaml")
    (root / "zero.yaml").symlink_to("/dev/zero")
    script = ("import json, sys; from pathlib import Path;"
              "from hznctl.plan.digest import read_inputs; i = read_inputs(Path(sys.argv[1]));"
              "print(json.dumps([dict(i.files), sorted(i.local)]))")
    done = subprocess.run([sys.executable, "-c", script, str(root)], capture_output=True,
                          text=True, timeout=60, check=True)
    files, local = json.loads(done.stdout)
    assert files["secrets/pipe.yaml"] == files["zero.yaml"] == "unreadable"
    assert files["project.yaml"] == blob_id(b"a: 1\n")
    assert local == ["project.yaml"]
