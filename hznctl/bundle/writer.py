"""Writing host bundles to disk: the whole tree swapped in at once, unchanged files kept.

Fast on large fleets: each distinct content is written once and hard-linked, existing
files are compared by inode first, and big trees are written on a few threads. Bundles
can be given one at a time as they are built (``BundleWriter``): each is compared and
written, then let go, so a compile holds one host's files at a time, not the fleet's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol, TypeVar

from hznctl.atomic import fsync_dir
from hznctl.bundle.manifest import MANIFEST
from hznctl.errors import HznctlError
from hznctl.system import usable_cores


class WritableBundle(Protocol):
    """What the writer needs of a bundle: every file of it, by path (a host's bundle, a
    cluster's tree), and the SHA-256 (hex) of those it knows (a host bundle's manifest
    lists its files'); the writer hashes the others."""

    def all_files(self) -> dict[str, bytes]: ...

    def file_hashes(self) -> Mapping[str, str]: ...


@dataclass
class WriteResult:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)


class UntrustedListing(Exception):
    """A folder listing gave an inode number that is not the file's: what was compared
    by inode may be wrong, so the write must start over with ``trust_inodes=False``."""


def write_bundles(out: Path, bundles: Mapping[str, WritableBundle], *, prune: bool = True
                  ) -> WriteResult:
    """Make ``out`` hold exactly ``bundles`` (and, unless ``prune``, other hosts it had).

    The new tree is built in a temporary folder next to ``out`` and swapped in with one
    rename, so a reader sees the old bundles or the new, never a mix. Files that did not
    change are hard-linked into the new tree (same inode and mtime), and when nothing
    changed at all nothing is touched. Within the new tree each distinct content is
    written once and its other occurrences are hard links to it: the same secret file in
    two hundred host bundles is one file on disk.
    """
    try:
        return _write(out, bundles, prune, trust_inodes=True)
    except UntrustedListing:
        # A file system whose folder listings do not give the files' inode numbers:
        # every existing file is read, rather than each inode once.
        return _write(out, bundles, prune, trust_inodes=False)


def _write(out: Path, bundles: Mapping[str, WritableBundle], prune: bool, trust_inodes: bool
           ) -> WriteResult:
    # Everything is in memory already: one plan, carried out at once.
    with BundleWriter(out, prune=prune, trust_inodes=trust_inodes, batch_bytes=None) as writer:
        for host in sorted(bundles):
            writer.add(host, bundles[host])
        return writer.finish()


# What a streaming writer holds before it writes it out (the in-memory write holds all):
# enough files for the threads to share, little next to the inventory.
BATCH_BYTES = 2 << 20


class BundleWriter:
    """``write_bundles`` one bundle at a time: ``add`` each, then ``finish``.

    Each bundle is compared with the one in ``out`` when added; the first that differs
    starts the new tree next to ``out``, and from then on what is added is written into
    it in batches of about ``batch_bytes`` (None: all at ``finish``), so the caller can
    let each bundle go once added. ``finish`` links in the unchanged hosts, swaps the
    tree in and says what changed; leaving the ``with`` without it (an error, a bundle
    that failed to build) removes the new tree and leaves ``out`` as it was.

    Raises ``UntrustedListing`` when the file system's listings cannot be trusted: run
    it all again with ``trust_inodes=False``.
    """

    def __init__(self, out: Path, *, prune: bool = True, trust_inodes: bool = True,
                 batch_bytes: int | None = BATCH_BYTES) -> None:
        self.out = out.absolute()
        self._prune = prune
        self._batch_bytes = batch_bytes
        self._existing = _existing_hosts(self.out)
        self._old = {host: _Existing.scan(f"{self.out}/{host}") for host in self._existing}
        self._verified = _Verified(trust_inodes)
        self._written: list[str] = []
        self._unchanged: list[str] = []
        self._tmp: str | None = None
        self._fix_modes = False
        self._plan = _Plan()
        # Each distinct content of the new tree, by its SHA-256's bytes, and the path it was
        # first written at (its other paths are links): hashes only, never the bytes.
        self._first: dict[bytes, str] = {}
        self._replaced: dict[str, str] = {}

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._discard()

    def add(self, host: str, bundle: WritableBundle) -> bool:
        """Compare ``host``'s bundle with the one in ``out`` and, if it differs, write it
        into the new tree (now or with its batch). True when it is new or changed."""
        if host in self._written or host in self._unchanged:
            raise ValueError(f"bundle {host} given twice")
        files = bundle.all_files()
        digest = _hashes_of(bundle, files)
        old = self._old.get(host)
        if old is not None and _tree_equals(old, files, self._verified, digest):
            self._unchanged.append(host)
            return False
        tmp = self._start()
        self._plan.add_tree(f"{tmp}/{host}", files, old, self._verified, digest,
                            self._first)
        self._written.append(host)
        if self._batch_bytes is not None and self._plan.pending_bytes >= self._batch_bytes:
            self._carry_out()
        return True

    def finish(self) -> WriteResult:
        """Swap the new tree in (when anything changed) and say what changed."""
        added = {*self._written, *self._unchanged}
        stale = sorted(set(self._existing) - added) if self._prune else []
        result = WriteResult(written=sorted(self._written), unchanged=sorted(self._unchanged),
                             removed=stale)
        if not result.changed:
            return result
        tmp = self._start()
        for host, tree in self._old.items():
            if host not in stale and host not in self._written:
                self._plan.keep_tree(tree, f"{tmp}/{host}")
        self._carry_out()
        _swap(self.out, Path(tmp))
        self._discard()
        return result

    def _start(self) -> str:
        if self._tmp is None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = tempfile.mkdtemp(prefix=f".{self.out.name}.", suffix=".tmp",
                                         dir=self.out.parent)
            os.chmod(self._tmp, 0o755)
            self._fix_modes = _modes_need_fixing(self._tmp)
        return self._tmp

    def _carry_out(self) -> None:
        self._plan.carry_out(self._fix_modes, self._replaced)
        self._plan = _Plan()

    def _discard(self) -> None:
        # Only once every worker has stopped (carry_out waits for them): nothing is
        # created in the temporary tree after it is removed.
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def _hashes_of(bundle: WritableBundle, files: Mapping[str, bytes]) -> Callable[[str], str]:
    """The SHA-256 (hex) of each of ``files``: the bundle's own where it lists them,
    computed otherwise."""
    known = bundle.file_hashes()

    def digest(rel: str) -> str:
        return known.get(rel) or hashlib.sha256(files[rel]).hexdigest()
    return digest


def _existing_hosts(out: Path) -> list[str]:
    if not out.exists():
        return []
    if not out.is_dir():
        raise HznctlError(f"{out}: exists and is not a folder")
    hosts, foreign = [], []
    for entry in sorted(out.iterdir()):
        if entry.is_dir() and not entry.is_symlink() and (entry / MANIFEST).is_file():
            hosts.append(entry.name)
        else:
            foreign.append(entry.name)
    if foreign:
        # Replacing the folder would delete them: refuse rather than guess.
        raise HznctlError(
            f"{out}: holds files that are not hznctl bundles ({', '.join(foreign[:3])}); "
            "choose an empty folder or one written by `hznctl compile`"
        )
    return hosts


_NOT_A_FILE = -1
_FILE_MODE = stat.S_IFREG | 0o644


@dataclass(frozen=True)
class _Existing:
    """A bundle already in the output folder: its files' inode numbers, by relative path."""

    root: str
    device: int
    inodes: dict[str, int]  # _NOT_A_FILE for symlinks and anything else not a regular file

    @classmethod
    def scan(cls, root: str) -> _Existing:
        # The listing gives each entry's inode number and type: no stat per file.
        device = os.lstat(root).st_dev
        inodes: dict[str, int] = {}
        pending = [("", root)]
        while pending:
            prefix, folder = pending.pop()
            with os.scandir(folder) as entries:
                for entry in entries:
                    rel = prefix + entry.name
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((rel + "/", entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        inodes[rel] = entry.inode()
                    else:
                        inodes[rel] = _NOT_A_FILE
        return cls(root, device, inodes)


class _Verified:
    """Which existing files hold which content: each inode is read at most once per write.

    The same secret hard-linked into every host is read once; what is kept of it is its
    hash, not its bytes. A file edited by hand in place is found different for every
    bundle that has it: a mismatch is not remembered, so the inode is read again for each
    of them."""

    def __init__(self, trust_inodes: bool) -> None:
        self._trust = trust_inodes
        self._holds: dict[tuple[int, int], str] = {}

    def holds(self, tree: _Existing, rel: str, data: bytes, digest: Callable[[str], str]
              ) -> bool:
        """Whether ``rel`` in ``tree`` is a regular 0644 file holding exactly ``data``
        (whose SHA-256 ``digest(rel)`` gives)."""
        inode = tree.inodes[rel]
        if inode == _NOT_A_FILE:
            return False
        key = (tree.device, inode)
        known = self._holds.get(key)
        if known is not None:
            return known == digest(rel)
        if not self._read_equals(f"{tree.root}/{rel}", key, data):
            return False
        if self._trust:
            self._holds[key] = digest(rel)
        return True

    def _read_equals(self, path: str, key: tuple[int, int], data: bytes) -> bool:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return False
        try:
            st = os.fstat(fd)
            if self._trust and (st.st_dev, st.st_ino) != key:
                raise UntrustedListing(path)
            if st.st_mode != _FILE_MODE or st.st_size != len(data):
                return False
            # The size matched: no read past the end to find it.
            return _read_at_most(fd, len(data)) == data
        except OSError:
            return False
        finally:
            os.close(fd)


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks = []
    while limit > 0:
        chunk = os.read(fd, limit)
        if not chunk:
            break
        chunks.append(chunk)
        limit -= len(chunk)
    return b"".join(chunks)


def _tree_equals(tree: _Existing, files: Mapping[str, bytes], verified: _Verified,
                 digest: Callable[[str], str]) -> bool:
    if tree.inodes.keys() != files.keys():
        return False
    # The manifest holds every other file's hash: when it differs, nothing else is read.
    if not verified.holds(tree, MANIFEST, files[MANIFEST], digest):
        return False
    return all(verified.holds(tree, rel, data, digest) for rel, data in files.items()
               if rel != MANIFEST)


# From this many files on, the new tree is made by several threads: creating, writing and
# linking files is kernel work that runs outside the interpreter lock, most of a cold
# write of a large fleet. Below it, threads cost more than they save.
PARALLEL_FROM = 2000
_MAX_THREADS = 4
_CHUNK = 64  # operations a thread takes at a time
_T = TypeVar("_T")


def _threads() -> int:
    return min(_MAX_THREADS, usable_cores())


class _Plan:
    """What a batch of the new tree needs, decided before any file is made: its folders,
    each distinct content written once at its first path, and every other path a hard
    link (to that file, one of an earlier batch, or the unchanged file of the old tree).

    Once the folders exist, the files can be written in any order, and then the links
    made in any order: each of these two steps can be shared between threads."""

    def __init__(self) -> None:
        self.folders: list[str] = []
        self.writes: list[tuple[str, bytes]] = []
        # (source, path, content): a content to write at the path if the link fails;
        # None for an old file, copied then.
        self.links: list[tuple[str, str, bytes | None]] = []
        self.pending_bytes = 0

    def keep_tree(self, tree: _Existing, dest: str) -> None:
        self._add_folders(dest, tree.inodes)
        self.links.extend((f"{tree.root}/{rel}", f"{dest}/{rel}", None) for rel in tree.inodes)

    def add_tree(self, dest: str, files: Mapping[str, bytes], old: _Existing | None,
                 verified: _Verified, digest: Callable[[str], str],
                 first: dict[bytes, str]) -> None:
        self._add_folders(dest, files)
        for rel, data in files.items():
            target = f"{dest}/{rel}"
            # An unchanged file keeps its inode and mtime. A changed one is always written
            # anew (or linked to another new file), so its mtime says that it changed.
            if old is not None and rel in old.inodes and verified.holds(old, rel, data,
                                                                        digest):
                self.links.append((f"{old.root}/{rel}", target, None))
                continue
            sha = bytes.fromhex(digest(rel))
            source = first.get(sha)
            if source is None:
                self.writes.append((target, data))
                first[sha] = target
                self.pending_bytes += len(data)
            else:
                self.links.append((source, target, data))

    def _add_folders(self, dest: str, rels: Iterable[str]) -> None:
        self.folders.append(dest)
        # Sorted, a folder comes before the folders inside it.
        inner = sorted({rel.rpartition("/")[0] for rel in rels} - {""})
        self.folders.extend(f"{dest}/{folder}" for folder in inner)

    def carry_out(self, fix_modes: bool, replaced: dict[str, str]) -> None:
        """Make it; ``replaced``: the file written where a link to a path failed, kept
        from batch to batch (later links to that path go to it)."""
        for folder in self.folders:
            os.makedirs(folder, mode=0o755, exist_ok=True)
        threads = _threads()
        if threads < 2 or len(self.writes) + len(self.links) < PARALLEL_FROM:
            _write_all(self.writes, fix_modes)
            _link_all(self.links, fix_modes, replaced)
            return
        # Chunks in the plan's order: a thread works in one host's folders at a time.
        _run_in_threads([functools.partial(_write_all, chunk, fix_modes)
                         for chunk in _chunks(self.writes)], threads)
        _run_in_threads([functools.partial(_link_all, chunk, fix_modes, replaced)
                         for chunk in _chunks(self.links)], threads)


def _chunks(items: list[_T]) -> list[list[_T]]:
    return [items[i:i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _run_in_threads(jobs: list[Callable[[], None]], threads: int) -> None:
    """Run every job; the first failure is raised once no job runs any more."""
    failed = threading.Event()

    def run(job: Callable[[], None]) -> None:
        if failed.is_set():
            return
        try:
            job()
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(threads, thread_name_prefix="hznctl-write") as pool:
        futures = [pool.submit(run, job) for job in jobs]
        try:
            for future in futures:
                future.result()
        finally:
            # On a failure (or Ctrl-C) the jobs not started are dropped; leaving the
            # ``with`` waits for the running ones.
            failed.set()
            pool.shutdown(wait=True, cancel_futures=True)


def _write_all(writes: list[tuple[str, bytes]], fix_modes: bool) -> None:
    for target, data in writes:
        _write_new(target, data, fix_modes)


def _link_all(links: list[tuple[str, str, bytes | None]], fix_modes: bool,
              replaced: dict[str, str]) -> None:
    for source, target, data in links:
        if data is None:
            _link_or_copy(source, target)
            continue
        try:
            os.link(replaced.get(source, source), target)
        except OSError:  # too many links, or a file system without hard links
            _write_new(target, data, fix_modes)
            # The next paths of this content link to the new file (set once it is whole).
            replaced[source] = target


def _link_or_copy(src: str, dest: str) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _modes_need_fixing(folder: str) -> bool:
    """Whether a file created 0644 in ``folder`` (and the folders made in it) ends up
    with another mode: a umask taking read bits, or a default ACL. Found by making one,
    so as to set neither the process umask nor each file's mode when it is not needed."""
    probe = f"{folder}/.mode"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        mode = os.fstat(fd).st_mode
    finally:
        os.close(fd)
        os.unlink(probe)
    return mode != _FILE_MODE


def _write_new(target: str, data: bytes, fix_mode: bool = True) -> None:
    # No fsync per file: the tree becomes visible only through the final rename, and
    # a build artifact lost to a power cut is recompiled, not trusted half-written.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        if fix_mode:
            os.fchmod(fd, 0o644)  # whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where that is not available."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd = -100
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(rc == 0)


def _swap(out: Path, tmp: Path) -> None:
    """Put the tree at ``tmp`` in place of ``out``; the old tree ends up at ``tmp``."""
    if not out.exists():
        os.rename(tmp, out)
        tmp.mkdir()
    elif not _exchange(out, tmp):
        aside = tmp.with_name(tmp.name + ".old")
        os.rename(out, aside)
        os.rename(tmp, out)
        os.rename(aside, tmp)
    fsync_dir(out.parent)
