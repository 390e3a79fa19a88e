"""Writing host bundles: shared content is one file on disk, yet every host reads its own.

Identical files across hosts (the same SOPS file in every bundle) are written once and
hard-linked; these tests pin what a reader of one host folder sees, the modes, what an
unchanged recompile leaves alone, and that a file edited by hand is found and rewritten
in every bundle that shares it.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import hznctl.bundle.writer as bundle_module
from hznctl.bundle.manifest import HostBundle
from hznctl.bundle.writer import write_bundles
from tests.compile_support import (
    bundle_of,
    list_without_inode_numbers,
    stats,
    tree,
    tree_shape,
)

SECRET = b"sops:\n  mac: ENC[abc]\npassword: ENC[AES256_GCM,data:xyz]\n" * 20


def _fleet(secret: bytes = SECRET) -> dict[str, HostBundle]:
    """Three hosts: one secret in all (the same object in two, an equal copy in the
    third), one exec spec in two, a program file of their own each."""
    copy = bytes(bytearray(secret))
    assert copy is not secret
    exec_spec = b'{"group": "billing-mail"}\n'
    return {
        "web-1": bundle_of("web-1", {"secrets/redis.yaml": secret, "exec/mail.json": exec_spec,
                                   "programs/mail.conf": b"[program:mail]\nnumprocs=1\n"}),
        "web-2": bundle_of("web-2", {"secrets/redis.yaml": secret, "exec/mail.json": exec_spec,
                                   "programs/mail.conf": b"[program:mail]\nnumprocs=2\n"}),
        "web-3": bundle_of("web-3", {"secrets/redis.yaml": copy,
                                   "programs/other.conf": b"[program:other]\n"}),
    }


def _inode(path: Path) -> int:
    return path.stat().st_ino


def _assert_reads_exactly(out: Path, bundles: dict[str, HostBundle]) -> None:
    assert sorted(p.name for p in out.iterdir()) == sorted(bundles)
    for host, bundle in bundles.items():
        assert tree(out / host) == bundle.all_files(), host
        for path in (out / host).rglob("*"):
            if path.is_file():
                assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


@pytest.fixture
def restrictive_umask() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def test_identical_content_across_hosts_is_one_file(tmp_path):
    out, bundles = tmp_path / "out", _fleet()
    write_bundles(out, bundles)
    _assert_reads_exactly(out, bundles)
    secrets = {_inode(out / h / "secrets/redis.yaml") for h in bundles}
    assert len(secrets) == 1  # the equal copy of web-3 included
    assert (out / "web-1/secrets/redis.yaml").stat().st_nlink == 3
    assert _inode(out / "web-1/exec/mail.json") == _inode(out / "web-2/exec/mail.json")
    assert _inode(out / "web-1/programs/mail.conf") != _inode(out / "web-2/programs/mail.conf")


def test_every_file_is_0644_whatever_the_umask(tmp_path, restrictive_umask):
    out, bundles = tmp_path / "out", _fleet()
    write_bundles(out, bundles)
    _assert_reads_exactly(out, bundles)
    changed = dict(bundles)
    changed["web-2"] = bundle_of("web-2", {**bundles["web-2"].files, "exec/new.json": b"{}\n"})
    assert write_bundles(out, changed).written == ["web-2"]
    _assert_reads_exactly(out, changed)


def test_an_unchanged_rewrite_touches_nothing(tmp_path):
    out, bundles = tmp_path / "out", _fleet()
    write_bundles(out, bundles)
    before = stats(out)
    result = write_bundles(out, _fleet())  # equal bytes, other objects
    assert not result.changed
    assert result.unchanged == sorted(bundles)
    assert stats(out) == before


def test_unchanged_files_keep_their_inode_and_a_changed_one_gets_a_new_file(tmp_path):
    out = tmp_path / "out"
    bundles = {"a": bundle_of("a", {"secrets/s.yaml": b"old\n", "exec/x.json": b"{}\n"}),
               "b": bundle_of("b", {"secrets/s.yaml": b"new\n"})}
    write_bundles(out, bundles)
    before = stats(out, files_only=True)
    bundles["a"] = bundle_of("a", {"secrets/s.yaml": b"new\n", "exec/x.json": b"{}\n"})
    assert write_bundles(out, bundles).written == ["a"]
    after = stats(out, files_only=True)
    _assert_reads_exactly(out, bundles)
    assert after["a/exec/x.json"] == before["a/exec/x.json"]
    assert after["b/secrets/s.yaml"] == before["b/secrets/s.yaml"]
    # a's secret changed: a new file (its mtime says so), not b's older one linked in.
    assert after["a/secrets/s.yaml"][0] not in {ino for ino, _ in before.values()}


def test_a_hand_edit_of_a_shared_file_is_found_in_every_host(tmp_path):
    out, bundles = tmp_path / "out", _fleet()
    write_bundles(out, bundles)
    with open(out / "web-1/secrets/redis.yaml", "r+b") as handle:  # in place: all 3 see it
        handle.write(b"EDITED")
    assert (out / "web-3/secrets/redis.yaml").read_bytes().startswith(b"EDITED")
    exec_inode = _inode(out / "web-1/exec/mail.json")
    result = write_bundles(out, bundles)
    assert result.written == ["web-1", "web-2", "web-3"]
    _assert_reads_exactly(out, bundles)
    assert len({_inode(out / h / "secrets/redis.yaml") for h in bundles}) == 1
    assert _inode(out / "web-1/exec/mail.json") == exec_inode
    assert not write_bundles(out, bundles).changed


def test_a_file_replaced_by_hand_in_one_host_is_found_there(tmp_path):
    out, bundles = tmp_path / "out", _fleet()
    write_bundles(out, bundles)
    path = out / "web-2/secrets/redis.yaml"
    path.unlink()
    path.write_bytes(SECRET)  # same bytes, but a separate file with the umask's mode
    path.chmod(0o600)
    (out / "web-3/programs/other.conf").unlink()
    (out / "web-3/programs/other.conf").symlink_to(out / "web-1/programs/mail.conf")
    assert write_bundles(out, bundles).written == ["web-2", "web-3"]
    _assert_reads_exactly(out, bundles)
    assert not (out / "web-3/programs/other.conf").is_symlink()


def test_a_file_edited_in_place_behind_a_matching_manifest_is_found(tmp_path):
    out, bundles = tmp_path / "out", _fleet()
    write_bundles(out, bundles)
    with open(out / "web-3/programs/other.conf", "r+b") as handle:
        handle.write(b"#")  # same size, other bytes
    assert write_bundles(out, bundles).written == ["web-3"]
    _assert_reads_exactly(out, bundles)


@pytest.mark.parametrize("threads", [False, True], ids=["serial", "threaded"])
@pytest.mark.parametrize("links_before_failing", [0, 1])
def test_a_failing_link_falls_back_to_a_copy(tmp_path, monkeypatch, links_before_failing,
                                             threads):
    out, bundles = tmp_path / "out", _fleet()
    runs = _go_threaded(monkeypatch) if threads else []
    real_link, calls = os.link, []

    def link(src, dest, **kwargs):
        calls.append(dest)
        if len(calls) > links_before_failing:
            raise OSError(errno.EMLINK, "Too many links")
        real_link(src, dest, **kwargs)

    monkeypatch.setattr(os, "link", link)
    write_bundles(out, bundles)
    assert calls
    _assert_reads_exactly(out, bundles)
    before = stats(out, files_only=True)
    changed = dict(bundles)
    changed["web-1"] = bundle_of("web-1", {**bundles["web-1"].files, "exec/new.json": b"{}\n"})
    assert write_bundles(out, changed).written == ["web-1"]
    _assert_reads_exactly(out, changed)
    after = stats(out, files_only=True)
    # Copied from the old tree rather than linked: still the old mtime.
    assert after["web-3/programs/other.conf"][1] == before["web-3/programs/other.conf"][1]
    assert len(runs) == (4 if threads else 0)


def test_listings_without_true_inode_numbers_read_every_file(tmp_path, monkeypatch):
    """Some file systems list every entry with one made-up inode number: then nothing is
    taken as verified from another file, each one is read."""
    out, bundles = tmp_path / "out", _fleet()
    write_bundles(out, bundles)
    list_without_inode_numbers(monkeypatch)
    assert not write_bundles(out, bundles).changed
    path = out / "web-2/exec/mail.json"
    path.unlink()
    path.write_bytes(b'{"group": "billing-mall"}\n')
    path.chmod(0o644)
    assert write_bundles(out, bundles).written == ["web-2"]
    _assert_reads_exactly(out, bundles)


def test_a_shared_file_changed_for_one_host_leaves_the_others_linked(tmp_path):
    out, bundles = tmp_path / "out", _fleet()
    write_bundles(out, bundles)
    shared = _inode(out / "web-1/secrets/redis.yaml")
    changed = dict(bundles)
    changed["web-2"] = bundle_of("web-2", {**bundles["web-2"].files,
                                         "secrets/redis.yaml": SECRET + b"rotated: 1\n"})
    assert write_bundles(out, changed).written == ["web-2"]
    _assert_reads_exactly(out, changed)
    assert _inode(out / "web-1/secrets/redis.yaml") == shared
    assert _inode(out / "web-3/secrets/redis.yaml") == shared
    assert _inode(out / "web-2/secrets/redis.yaml") != shared


def _large_fleet(hosts: int = 12) -> dict[str, HostBundle]:
    """Enough files for several chunks: a secret shared by all, one by every other
    host, folders two deep, and files of each host's own."""
    shared, half = SECRET, SECRET + b"half: 1\n"
    bundles = {}
    for n in range(hosts):
        files = {"secrets/redis.yaml": shared if n % 3 else bytes(bytearray(shared)),
                 "secrets/deep/er/half.yaml": half if n % 2 else b"own\n"}
        for g in range(8):
            files[f"programs/g{g}.conf"] = f"[program:g{g}]\nnumprocs={n % 2 + 1}\n".encode()
            files[f"exec/g{g}.json"] = f'{{"host": "h{n}", "group": {g}}}\n'.encode()
        bundles[f"h{n}"] = bundle_of(f"h{n}", files)
    return bundles


def _go_threaded(monkeypatch) -> list[int]:
    """From here on every write of more than one file takes the threaded path, in small
    chunks; the list gets the thread count of each threaded step."""
    runs: list[int] = []
    real_run = bundle_module._run_in_threads

    def run(jobs, threads):
        runs.append(threads)
        real_run(jobs, threads)

    monkeypatch.setattr(bundle_module, "PARALLEL_FROM", 2)
    monkeypatch.setattr(bundle_module, "_CHUNK", 3)
    monkeypatch.setattr(bundle_module, "_threads", lambda: 4)
    monkeypatch.setattr(bundle_module, "_run_in_threads", run)
    return runs


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=["022", "077"])
def test_the_threaded_write_makes_the_tree_the_serial_one_does(tmp_path, monkeypatch,
                                                                umask):
    bundles = _large_fleet()
    monkeypatch.setattr(bundle_module, "_threads", lambda: 4)
    old_umask = os.umask(umask)
    try:
        write_bundles(tmp_path / "serial", bundles)  # 12 hosts: below PARALLEL_FROM
        serial = tree_shape(tmp_path / "serial")
        runs = _go_threaded(monkeypatch)
        write_bundles(tmp_path / "threaded", bundles)
        assert runs == [4, 4]  # the writes, then the links
        assert tree_shape(tmp_path / "threaded") == serial
        # An update links unchanged files and a host not pruned from the old tree.
        before = stats(tmp_path / "threaded", files_only=True)
        changed = {h: b for h, b in bundles.items() if h != "h0"}
        changed["h1"] = bundle_of("h1", {**bundles["h1"].files, "exec/new.json": b"{}\n"})
        assert write_bundles(tmp_path / "threaded", changed, prune=False).written == ["h1"]
        assert runs == [4, 4, 4, 4]
    finally:
        os.umask(old_umask)
    after = stats(tmp_path / "threaded", files_only=True)
    new = {"h1/exec/new.json", "h1/manifest.json"}
    assert {k: v for k, v in after.items() if k not in new} == \
        {k: v for k, v in before.items() if k not in new}
    _assert_reads_exactly(tmp_path / "threaded", {**changed, "h0": bundles["h0"]})


def test_files_get_their_mode_without_a_chmod_each_when_the_umask_allows(
        tmp_path, monkeypatch):
    calls = []
    real_fchmod = os.fchmod
    monkeypatch.setattr(os, "fchmod", lambda fd, mode: calls.append(real_fchmod(fd, mode)))
    old_umask = os.umask(0o022)
    try:
        write_bundles(tmp_path / "out", _fleet())
    finally:
        os.umask(old_umask)
    _assert_reads_exactly(tmp_path / "out", _fleet())
    assert calls == []


@pytest.mark.parametrize("failing_write", [1, 7, 20])
def test_a_failure_in_a_writing_thread_leaves_the_old_output(tmp_path, monkeypatch,
                                                              failing_write):
    out, bundles = tmp_path / "out", _large_fleet()
    write_bundles(out, bundles)
    before = stats(out)
    runs = _go_threaded(monkeypatch)
    lock, count, real_write = threading.Lock(), [0], os.write

    def write(fd, data):
        with lock:
            count[0] += 1
            if count[0] == failing_write:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    changed = {h: bundle_of(h, {**b.files, "exec/extra.json": h.encode()})
               for h, b in bundles.items()}
    with pytest.raises(OSError) as raised:
        write_bundles(out, changed)
    assert runs == [4]
    assert (raised.value.errno, raised.value.strerror) == (errno.ENOSPC,
                                                           "No space left on device")
    assert stats(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder
    monkeypatch.setattr(os, "write", real_write)
    assert write_bundles(out, changed).written == sorted(changed)
    _assert_reads_exactly(out, changed)
