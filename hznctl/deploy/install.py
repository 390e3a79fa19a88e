"""Installed bundles on a host, and the one atomic switch between them.

Layout (``state_dir`` and ``include_dir`` come from the host's supervisord settings)::

    <state_dir>/bundles/<id>/          complete bundles: manifest.json, programs/, exec/, secrets/
    <state_dir>/bundles/.staging-*     a copy in progress, and .pruning-* a bundle being
                                       deleted (a crash leaves them; the next deploy deletes them)
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
import ctypes.util
import hashlib
import json
import os
import shutil
from pathlib import Path

from hznctl.atomic import fsync_dir, replace_symlink, write_text
from hznctl.deploy import crashpoint
from hznctl.errors import HznctlError

MANIFEST = "manifest.json"


class InstallError(HznctlError):
    """The bundle could not be installed (corrupt bundle, a foreign file in the way)."""


def bundle_id(bundle_dir: Path) -> str:
    """A bundle's identity: the hash of its manifest (which holds every file's hash)."""
    try:
        return hashlib.sha256((bundle_dir / MANIFEST).read_bytes()).hexdigest()[:16]
    except OSError as exc:
        raise InstallError(f"cannot read {bundle_dir / MANIFEST}: {exc.strerror}") from None


def _copy_verified(src: Path, dest: Path, expected: str | None) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    data = src.read_bytes()
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise InstallError(f"{src} does not match the hash in its manifest; "
                           "the bundle is corrupt or was edited after compile")
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, src.stat().st_mode & 0o777)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _link_same(installed: tuple[Path, dict[str, str]] | None, relpath: str, sha256: str,
               target: Path) -> bool:
    if installed is None or installed[1].get(relpath) != sha256:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(_inside(installed[0], relpath), target)
    except OSError:
        return False
    return True


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


def _syncfs(fd: int) -> bool:
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    syncfs = getattr(ctypes.CDLL(libc_name, use_errno=True), "syncfs", None)
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
        name = Path(target).name
        return name if (self.bundles / name / MANIFEST).is_file() else None

    def current_id(self) -> str | None:
        return self._linked_id(self.current)

    def previous_id(self) -> str | None:
        return self._linked_id(self.previous)

    def bundle_dir(self, ident: str) -> Path:
        return self.bundles / ident

    def stage(self, source: Path, files: dict[str, str],
              installed: tuple[Path, dict[str, str]] | None = None) -> str:
        """Copy a bundle into ``bundles/<id>`` (verified against its manifest, made durable);
        a bundle already there is reused. ``installed``: a bundle already on the host and its
        file hashes — a file with the same path and hash is hard-linked from it instead of
        copied (bundles are never modified once staged), which on a host with hundreds of
        groups where one changed turns most of the copy into metadata."""
        ident = bundle_id(source)
        dest = self.bundles / ident
        if (dest / MANIFEST).is_file():
            return ident
        self.bundles.mkdir(parents=True, exist_ok=True)
        staging = self.bundles / f".staging-{ident}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            for relpath in sorted(files):
                target = _inside(staging, relpath)
                if not _link_same(installed, relpath, files[relpath], target):
                    _copy_verified(_inside(source, relpath), target, files[relpath])
            _copy_verified(source / MANIFEST, staging / MANIFEST, None)
            _sync_tree(staging)
            crashpoint.reached("staged")
            os.rename(staging, dest)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise InstallError(f"cannot stage the bundle into {dest}: {exc}") from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fsync_dir(self.bundles)
        return ident

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
            shutil.rmtree(doomed, ignore_errors=True)
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

    def link_programs(self, program_files: list[str]) -> None:
        """Make sure every program file (bundle-relative, ``programs/<group>.conf``) has its
        link; called before the switch, when new links still dangle."""
        self.include_dir.mkdir(parents=True, exist_ok=True)
        managed = self.managed_links()
        for relpath in program_files:
            name = Path(relpath).name
            link = self.include_dir / name
            if name in managed:
                continue
            if link.exists() or link.is_symlink():
                raise InstallError(
                    f"{link} exists and is not managed by hznctl (it does not point into "
                    f"{self._link_prefix}); rename or remove it, hznctl never touches it")
            os.symlink(f"{self.current}/{relpath}", link)
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
        write_text(self.journal, json.dumps({"from": from_id, "to": to_id}, sort_keys=True))

    def restore_journal(self, journal: dict[str, str | None] | None) -> None:
        if journal is None:
            self.finish()
        else:
            write_text(self.journal, json.dumps(journal, sort_keys=True))

    def unfinished(self) -> dict[str, str | None] | None:
        """The journal of a deploy that was killed before it finished, if any."""
        try:
            data = json.loads(self.journal.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        return {"from": data.get("from"), "to": data.get("to")}

    def finish(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.journal.unlink()
        fsync_dir(self.state_dir)


def _inside(root: Path, relpath: str) -> Path:
    """``root/relpath``, refusing paths that would leave ``root`` (a hostile manifest)."""
    path = Path(os.path.normpath(root / relpath))
    if relpath.startswith("/") or not str(path).startswith(str(root) + os.sep):
        raise InstallError(f"manifest lists a file outside the bundle: {relpath!r}")
    return path
