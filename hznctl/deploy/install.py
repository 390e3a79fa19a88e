"""Installed bundles on a host, and the one atomic switch between them.

Layout (``state_dir`` and ``include_dir`` come from the host's supervisord settings)::

    <state_dir>/bundles/<id>/          complete bundles: manifest.json, programs/, exec/, secrets/
    <state_dir>/bundles/.staging-*     a copy in progress, and .pruning-* a bundle being
                                       deleted (a crash leaves them; the next deploy deletes them);
                                       a bundle the deploy would prune is renamed to .staging-*
                                       and made the new one (only its wrong files replaced)
    <state_dir>/current  -> bundles/<id>   the bundle the host runs
    <state_dir>/previous -> bundles/<id>   the one before it (rollback)
    <state_dir>/deploy.json            journal of a deploy that has not finished
    <include_dir>/<group>.conf -> <state_dir>/current/programs/<group>.conf

How program files reach supervisord: each program file in the include folder is a symlink
*through* the ``current`` link. Replacing ``current`` (one rename) therefore switches the
content of every program file at once. The set of links only ever grows before the switch
and shrinks after it: a link whose target is absent from the current bundle dangles, and
supervisord (through configparser) skips an include file it cannot open. So whatever the
moment of a crash, supervisord reads exactly the old bundle's programs or exactly the new
one's — never a mix. The operator's ``supervisord.conf`` needs only an include glob that
matches the include folder, e.g.::

    [include]
    files = /etc/supervisor/conf.d/*.conf /etc/supervisor/conf.d/hznctl/*.conf

A link is hznctl's if and only if it points into ``<state_dir>/current/programs/``;
every other file in the include folder is foreign and never touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import json
import os
import shutil
import stat
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from hznctl.atomic import fsync_dir, replace_symlink
from hznctl.bundle.manifest import Manifest, parse_manifest
from hznctl.deploy import crashpoint, statedir
from hznctl.deploy.statedir import NOFOLLOW
from hznctl.deploy.verify import FILE_MODE, FOLDER_MODE, Tamper, verify_bundle
from hznctl.errors import HznctlError

MANIFEST = "manifest.json"


class InstallError(HznctlError):
    """The bundle could not be installed (corrupt bundle, a foreign file in the way)."""


class _Unavailable(Exception):
    def __init__(self, paths: list[str]) -> None:
        super().__init__(", ".join(paths))
        self.paths = paths


def bundle_id(bundle_dir: Path) -> str:
    """A bundle's identity: the hash of its manifest (which holds every file's hash)."""
    try:
        return hashlib.sha256((bundle_dir / MANIFEST).read_bytes()).hexdigest()[:16]
    except OSError as exc:
        raise InstallError(f"cannot read {bundle_dir / MANIFEST}: {exc.strerror}") from None


def _read_regular(path: Path) -> bytes | None:
    """The content of a regular file (never through a link, never blocking on a FIFO);
    None when there is none to read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | NOFOLLOW)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _write_readonly(target: Path, data: bytes) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _fill(staging: Path, manifest_data: bytes, files: Mapping[str, str],
          candidates: Mapping[str, list[Path]],
          verified: Mapping[str, bytes] | None = None,
          present: Collection[str] = ()) -> list[str]:
    """Write every file into ``staging`` from the first candidate whose content has the
    manifest's hash (each read is verified: a candidate may itself have been edited);
    returns the paths no candidate could give. ``verified``: contents already read and
    checked against their hash (by hash), written without another read; ``present``:
    files already in ``staging`` as they must be (see ``_recycle``)."""
    missing = []
    verified = verified or {}
    folders = {staging}
    for relpath in sorted(files):
        target = _inside(staging, relpath)
        if target.parent not in folders:
            target.parent.mkdir(parents=True, exist_ok=True)
            folders.update(target.parents[:len(target.relative_to(staging).parts) - 1])
        if relpath in present:
            continue
        known = verified.get(files[relpath])
        if known is not None:
            _write_readonly(target, known)
            continue
        for candidate in candidates.get(files[relpath], []):
            data = _read_regular(candidate)
            if data is not None and hashlib.sha256(data).hexdigest() == files[relpath]:
                _write_readonly(target, data)
                break
        else:
            missing.append(relpath)
    _write_readonly(staging / MANIFEST, manifest_data)
    for folder in sorted(folders, reverse=True):  # every folder made here, deepest first
        os.chmod(folder, FOLDER_MODE)
    return missing


def _recycle(staging: Path, files: Mapping[str, str]) -> set[str]:
    """Make the tree at ``staging`` (an installed bundle no longer needed, renamed there)
    hold only what can stay for a bundle of ``files``: every file that is a regular file
    of ours, with one link, read-only and of the manifest's hash (read and checked now),
    is kept; everything else is removed, manifest.json too. Returns the files kept.

    Creating and deleting hundreds of files costs a journaling file system more than
    anything else a deploy does: a new bundle differs from an old one by a few files."""
    wanted_folders = {str(staging)}
    for relpath in files:
        target = _inside(staging, relpath)
        wanted_folders.update(str(f) for f in target.parents[:len(relpath.split("/")) - 1])
    os.chmod(staging, 0o700)
    for folder, dirs, _files in os.walk(staging):  # open every real folder up first
        for name in dirs:
            if not os.path.islink(os.path.join(folder, name)):
                os.chmod(os.path.join(folder, name), 0o700)
    kept: set[str] = set()
    for folder, dirs, names in os.walk(staging):
        for name in list(dirs):
            path = os.path.join(folder, name)
            if path not in wanted_folders or os.path.islink(path):  # never written through
                remove_tree(Path(path))
                dirs.remove(name)
        for name in names:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, staging).replace(os.sep, "/")
            if rel in files and _intact(path, files[rel]):
                kept.add(rel)
            else:
                os.unlink(path)
    return kept


def _intact(path: str, sha256: str) -> bool:
    """A regular file of ours, one link, read-only, holding content of hash ``sha256``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | NOFOLLOW)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if (not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_uid != os.geteuid()
                or stat.S_IMODE(st.st_mode) != FILE_MODE):
            return False
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return hashlib.sha256(b"".join(chunks)).hexdigest() == sha256
    finally:
        os.close(fd)


def remove_tree(path: Path) -> None:
    """Delete a tree whose folders are read-only (installed bundles are): make each real
    folder writable first; links are removed, never followed."""
    if not path.is_dir() or path.is_symlink():
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            path.unlink()
        return
    for folder, _dirs, _files in os.walk(path):
        with contextlib.suppress(OSError):
            if stat.S_ISDIR(os.lstat(folder).st_mode):
                os.chmod(folder, 0o700)
    shutil.rmtree(path, ignore_errors=True)


def candidates_from(root: Path, files: Mapping[str, str]) -> dict[str, list[Path]]:
    """Where each hash can be read from in the tree at ``root`` (to be verified on read)."""
    found: dict[str, list[Path]] = {}
    for relpath, sha in files.items():
        with contextlib.suppress(InstallError):
            found.setdefault(sha, []).append(_inside(root, relpath))
    return found


def _sync_tree(root: Path) -> None:
    """Make every file under ``root`` durable before the rename that publishes it: one
    syncfs(2) for the whole file system instead of an fsync per file (hundreds of journal
    commits on a big host); per-file fsync where syncfs is not available."""
    fd = os.open(root, os.O_RDONLY)
    try:
        if _syncfs(fd):
            return
    finally:
        os.close(fd)
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    for folder in sorted({p.parent for p in root.rglob("*")} | {root}):
        fsync_dir(folder)


@functools.cache
def _libc_function(name: str) -> Any:
    """A C library function of this process (dlopen(NULL): the libc already loaded, no
    search for its file), or None."""
    try:
        return getattr(ctypes.CDLL(None, use_errno=True), name, None)
    except OSError:
        return None


def _syncfs(fd: int) -> bool:
    syncfs = _libc_function("syncfs")
    return syncfs is not None and syncfs(fd) == 0


class Installation:
    """A host's installed bundles and the program links in its include folder."""

    def __init__(self, state_dir: Path, include_dir: Path) -> None:
        self.state_dir = Path(os.path.abspath(state_dir))
        self.include_dir = Path(os.path.abspath(include_dir))
        self.bundles = self.state_dir / "bundles"
        self.current = self.state_dir / "current"
        self.previous = self.state_dir / "previous"
        self.journal = self.state_dir / "deploy.json"
        self._link_prefix = f"{self.current}/programs/"

    # -- bundles -------------------------------------------------------------------------

    def _linked_id(self, link: Path) -> str | None:
        try:
            target = os.readlink(link)
        except OSError:
            return None
        head, _, name = target.partition("/")
        if head != "bundles" or not name or "/" in name or name.startswith("."):
            return None
        return name if (self.bundles / name / MANIFEST).is_file() else None

    def current_id(self) -> str | None:
        return self._linked_id(self.current)

    def previous_id(self) -> str | None:
        return self._linked_id(self.previous)

    def bundle_dir(self, ident: str) -> Path:
        return self.bundles / ident

    def manifest(self, ident: str) -> Manifest:
        """The manifest of installed bundle ``ident``, read as a regular file (never through
        a link, never blocking on a FIFO put there by hand); HznctlError when unreadable."""
        path = self.bundles / ident / MANIFEST
        data = _read_regular(path)
        if data is None:
            raise InstallError(f"{path}: no manifest here (or not a regular file)")
        return parse_manifest(data, str(path))

    def verify(self, ident: str, files: Mapping[str, str],
               keep: dict[str, bytes] | None = None) -> list[Tamper]:
        """What was changed by hand in installed bundle ``ident`` (empty: intact);
        ``keep``: filled with the intact contents read, by hash (see ``stage``)."""
        return verify_bundle(self.bundles / ident, ident, files, keep)

    def stage(self, source: Path, files: dict[str, str],
              tampered: list[Tamper] | None = None,
              verified: Mapping[str, bytes] | None = None,
              recyclable: Collection[str] = ()) -> str:
        """Install the bundle at ``source`` as ``bundles/<id>``: every file copied (never
        linked: no installed file shares an inode with one anybody edits) after checking
        it against the manifest's hash, made read-only and durable. A bundle already there
        is reused only if intact (``tampered``: its verification, when already done);
        otherwise it is rebuilt and swapped in, in one rename. ``verified``: file contents
        already read and checked against their hash (the bundle that runs, as its
        verification read it), used for the files of the same hash. ``recyclable``:
        installed bundles this deploy deletes anyway; one of them becomes the new one
        (see ``_recycle``), its files that are already right kept."""
        manifest_data = _read_regular(source / MANIFEST)
        if manifest_data is None:
            raise InstallError(f"cannot read {source / MANIFEST} (a regular file)")
        ident = hashlib.sha256(manifest_data).hexdigest()[:16]
        dest = self.bundles / ident
        exists = os.path.lexists(dest)
        if exists and not (self.verify(ident, files) if tampered is None else tampered):
            return ident
        known = verified or {}
        unread = {p: sha for p, sha in files.items() if sha not in known}
        self._build(ident, manifest_data, files, candidates_from(source, unread), f"{source}",
                    verified, None if exists else self._recyclable(recyclable))
        return ident

    def _recyclable(self, idents: Collection[str]) -> str | None:
        """One of ``idents`` that is an installed bundle and neither current nor previous."""
        keep = {self.current_id(), self.previous_id()}
        for ident in sorted(idents):
            if (ident not in keep and not ident.startswith(".") and "/" not in ident
                    and (self.bundles / ident / MANIFEST).is_file()):
                return ident
        return None

    def recyclable(self, keep: Collection[str]) -> list[str]:
        """The installed bundles a prune keeping ``keep`` would delete."""
        if not self.bundles.is_dir():
            return []
        return sorted(e.name for e in self.bundles.iterdir()
                      if not e.name.startswith(".") and e.name not in keep)

    def repair(self, ident: str, files: Mapping[str, str],
               candidates: Mapping[str, list[Path]]) -> list[str]:
        """Rebuild installed bundle ``ident`` from its own intact files and ``candidates``
        (other bundles: each read is checked against the hash); returns the files nothing
        could give back (then the bundle is left as it is)."""
        dest = self.bundles / ident
        manifest_data = _read_regular(dest / MANIFEST)
        if manifest_data is None or not hashlib.sha256(manifest_data).hexdigest().startswith(
                ident):
            return [MANIFEST]
        merged: dict[str, list[Path]] = {}
        for sha, paths in [*candidates_from(dest, files).items(), *candidates.items()]:
            merged.setdefault(sha, []).extend(paths)
        try:
            self._build(ident, manifest_data, files, merged, None)
        except _Unavailable as exc:
            return exc.paths
        return []

    def _build(self, ident: str, manifest_data: bytes, files: Mapping[str, str],
               candidates: Mapping[str, list[Path]], source: str | None,
               verified: Mapping[str, bytes] | None = None,
               recycle: str | None = None) -> None:
        dest = self.bundles / ident
        self._ensure_bundles()
        staging = self.bundles / f".staging-{ident}-{os.getpid()}"
        remove_tree(staging)
        try:
            present: set[str] = set()
            if recycle is not None:
                try:
                    os.rename(self.bundles / recycle, staging)  # a leftover is pruned
                    present = _recycle(staging, files)
                except OSError:  # whatever is in the way: a bundle from nothing, then
                    remove_tree(staging)
                    recycle = None
            if recycle is None:
                os.mkdir(staging, 0o700)
            missing = _fill(staging, manifest_data, files, candidates, verified, present)
            if missing and source is not None:
                raise InstallError(
                    f"{source}/{missing[0]} does not match the hash in its manifest (or is "
                    "not a regular file); the bundle is corrupt or was edited after compile. "
                    "Nothing was changed.")
            if missing:
                raise _Unavailable(missing)
            _sync_tree(staging)
            crashpoint.reached("staged")
            self._publish(staging, dest)
        except OSError as exc:
            remove_tree(staging)
            raise InstallError(f"cannot stage the bundle into {dest}: {exc}") from None
        except BaseException:
            remove_tree(staging)
            raise
        fsync_dir(self.bundles)

    def _publish(self, staging: Path, dest: Path) -> None:
        """Rename the staged tree to ``dest``; a tampered one there is swapped out in the same
        rename (renameat2 RENAME_EXCHANGE) and deleted."""
        if not os.path.lexists(dest):
            os.rename(staging, dest)
            return
        if _exchange(staging, dest):
            remove_tree(staging)
            return
        aside = self.bundles / f".pruning-{dest.name}-{os.getpid()}"
        os.rename(dest, aside)
        os.rename(staging, dest)
        remove_tree(aside)

    def _ensure_bundles(self) -> None:
        try:
            os.mkdir(self.bundles, 0o755)
            os.chmod(self.bundles, 0o755)
        except FileExistsError:
            pass
        statedir.check_folder(self.bundles, "the bundles folder")

    def set_previous(self, ident: str | None) -> None:
        if ident is None:
            with contextlib.suppress(FileNotFoundError):
                self.previous.unlink()
        else:
            replace_symlink(self.previous, f"bundles/{ident}")

    def switch(self, ident: str | None) -> None:
        """Make ``ident`` the current bundle (None: no bundle at all) in one rename."""
        old = self.current_id()
        if ident is None:
            with contextlib.suppress(FileNotFoundError):
                self.current.unlink()
            fsync_dir(self.state_dir)
        elif old != ident:
            replace_symlink(self.current, f"bundles/{ident}")
        if old is not None and old != ident:
            replace_symlink(self.previous, f"bundles/{old}")

    def prune(self, keep: set[str]) -> list[str]:
        """Delete bundles other than current, previous and ``keep``, and staging leftovers.

        A bundle is renamed out of the way before it is deleted: a crash half way through
        must never leave a partial ``bundles/<id>`` that a later deploy would reuse."""
        keep = keep | {i for i in (self.current_id(), self.previous_id()) if i}
        removed: list[str] = []
        if not self.bundles.is_dir():
            return removed
        for entry in sorted(self.bundles.iterdir()):
            if entry.name in keep:
                continue
            doomed = entry
            if not entry.name.startswith("."):
                doomed = self.bundles / f".pruning-{entry.name}-{os.getpid()}"
                try:
                    os.rename(entry, doomed)
                except OSError:
                    continue
            remove_tree(doomed)
            removed.append(entry.name)
        return removed

    # -- program links -------------------------------------------------------------------

    def managed_links(self) -> dict[str, Path]:
        """Program links in the include folder that are hznctl's, by file name."""
        found: dict[str, Path] = {}
        if not self.include_dir.is_dir():
            return found
        for entry in self.include_dir.iterdir():
            with contextlib.suppress(OSError):
                if entry.is_symlink() and os.readlink(entry).startswith(self._link_prefix):
                    found[entry.name] = entry
        return found

    def check_links(self, program_files: list[str]) -> None:
        """Refuse early when a foreign file sits where a program link must go."""
        managed = self.managed_links()
        for relpath in program_files:
            link = self.include_dir / Path(relpath).name
            if link.name not in managed and (link.exists() or link.is_symlink()):
                raise InstallError(
                    f"{link} exists and is not managed by hznctl (it does not point into "
                    f"{self._link_prefix}); rename or remove it, hznctl never touches it. "
                    "Nothing was changed.")

    def link_problems(self, program_files: list[str]) -> dict[str, str]:
        """Program links changed by hand, by program file: `deleted`, or `changed` when a
        link of ours points at another program file."""
        managed = self.managed_links()
        problems = {}
        for relpath in program_files:
            name = Path(relpath).name
            link = managed.get(name)
            if link is None:
                if not os.path.lexists(self.include_dir / name):
                    problems[relpath] = "deleted"
            elif os.readlink(link) != f"{self.current}/{relpath}":
                problems[relpath] = "changed"
        return problems

    def link_programs(self, program_files: list[str]) -> None:
        """Make sure every program file (bundle-relative, ``programs/<group>.conf``) has its
        link, and only that one; called before the switch, when new links still dangle."""
        self.include_dir.mkdir(parents=True, exist_ok=True)
        managed = self.managed_links()
        for relpath in program_files:
            name = Path(relpath).name
            link = self.include_dir / name
            wanted = f"{self.current}/{relpath}"
            if name in managed:
                if os.readlink(link) != wanted:
                    replace_symlink(link, wanted)  # ours, pointed elsewhere by hand
                continue
            if link.exists() or link.is_symlink():
                raise InstallError(
                    f"{link} exists and is not managed by hznctl (it does not point into "
                    f"{self._link_prefix}); rename or remove it, hznctl never touches it")
            os.symlink(wanted, link)
        fsync_dir(self.include_dir)

    def unlink_programs(self, program_files: list[str]) -> list[str]:
        """Remove hznctl's links not in ``program_files``; called after the switch."""
        wanted = {Path(p).name for p in program_files}
        removed = []
        for name, link in sorted(self.managed_links().items()):
            if name not in wanted:
                with contextlib.suppress(FileNotFoundError):
                    link.unlink()
                removed.append(name)
        if removed:
            fsync_dir(self.include_dir)
        return removed

    # -- journal of an unfinished deploy -----------------------------------------------

    def begin(self, from_id: str | None, to_id: str) -> None:
        self._write_journal({"from": from_id, "to": to_id})

    def _write_journal(self, journal: dict[str, str | None]) -> None:
        statedir.write_atomic(self.journal, json.dumps(journal, sort_keys=True).encode())

    def restore_journal(self, journal: dict[str, str | None] | None) -> None:
        if journal is None:
            self.finish()
        else:
            self._write_journal(journal)

    def unfinished(self) -> dict[str, str | None] | None:
        """The journal of a deploy that was killed before it finished, if any."""
        try:
            raw = statedir.read_small(self.journal)
            data = json.loads(raw) if raw is not None else None
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        return {"from": data.get("from"), "to": data.get("to")}

    def finish(self) -> None:
        statedir.unlink(self.journal)


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where that is not available."""
    renameat2 = _libc_function("renameat2")
    if renameat2 is None:
        return False
    at_fdcwd = -100
    return bool(renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b),
                          _RENAME_EXCHANGE) == 0)


def _inside(root: Path, relpath: str) -> Path:
    """``root/relpath``, refusing paths that would leave ``root`` (a hostile manifest)."""
    path = Path(os.path.normpath(root / relpath))
    if relpath.startswith("/") or not str(path).startswith(str(root) + os.sep):
        raise InstallError(f"manifest lists a file outside the bundle: {relpath!r}")
    return path
