"""Reading the inventory as it was at a git revision (for `plan --base` and `policy check`)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from hznctl.errors import HznctlError, UsageError, unknown_revision


def git(cwd: Path, *args: str) -> bytes:
    """The output of ``git ARGS`` run in ``cwd``; a usage error with git's reason if it fails."""
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise HznctlError("git is not installed") from None
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(f"git {' '.join(args[:2])} failed: {message[-1] if message else ''}")
    return result.stdout


def resolve_revision(root: Path, rev: str) -> str:
    """The commit ``rev`` names in the repository that holds ``root`` (usage error if none)."""
    top = repo_root(root)
    try:
        out = git(top, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except UsageError:
        raise unknown_revision(rev) from None
    return out.decode().strip()


def repo_root(path: Path) -> Path:
    """The top of the git work tree that holds ``path``."""
    start = path if path.is_dir() else path.parent
    try:
        return Path(git(start, "rev-parse", "--show-toplevel").decode().strip())
    except UsageError:
        raise UsageError(f"{path} is not in a git repository: this needs the inventory's "
                         "git history") from None


def revision(path: Path) -> str | None:
    """The commit checked out at ``path``, or None outside a git repository."""
    try:
        start = path if path.is_dir() else path.parent
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=start, capture_output=True,
                                check=False)
    except (FileNotFoundError, OSError):
        return None
    return result.stdout.decode().strip() if result.returncode == 0 else None


def materialize(path: Path, rev: str, dest: Path) -> Path:
    """Extract folder ``path`` (inside a git work tree) as of ``rev`` into ``dest``.

    Returns the folder in ``dest`` that corresponds to ``path``. Only regular files and
    folders are extracted (no links, no absolute or parent paths).
    """
    root = repo_root(path)
    relative = path.resolve().relative_to(root.resolve())
    commit = resolve_revision(root, rev)
    spec = f"{commit}:{relative.as_posix()}" if relative.parts else commit
    target = dest / (relative.as_posix() if relative.parts else ".")
    target.mkdir(parents=True, exist_ok=True)
    try:
        data = git(root, "archive", "--format=tar", spec)
    except UsageError:
        return target  # the folder did not exist at that revision: an empty inventory
    _extract(data, target)
    return target


def _extract(data: bytes, target: Path, only: Collection[str] | None = None) -> set[str]:
    """The regular files and folders of tar ``data`` written under ``target`` (only the
    files named in ``only``, when given); the names of the files written."""
    written: set[str] = set()
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive.getmembers():
            name = Path(member.name)
            if name.is_absolute() or ".." in name.parts:
                continue
            if only is not None and (member.isdir() or member.name not in only):
                continue
            if member.isdir():
                (target / name).mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                out = target / name
                out.parent.mkdir(parents=True, exist_ok=True)
                extracted = archive.extractfile(member)
                if extracted is not None:
                    out.write_bytes(extracted.read())
                    written.add(member.name)
    return written


@dataclass(frozen=True)
class LocalFile:
    """A regular file (not a link) on this machine, and the blob id of its bytes."""

    path: str
    blob: str


@dataclass(frozen=True)
class Copied:
    """What ``copy_revision`` wrote."""

    root: Path  # the folder in the copy that corresponds to the inventory folder
    blobs: dict[str, str]  # path relative to it -> blob id, of every regular file written


def _tree_blobs(root: Path, relative: Path, commit: str) -> dict[str, str] | None:
    """The regular files of folder ``relative`` (of the work tree at ``root``) at
    ``commit``: path relative to it -> blob id, in git's order. None when the folder did
    not exist then. Links, submodules and paths that would leave the folder are left out,
    as ``materialize`` leaves them out."""
    spec = f"{commit}:{relative.as_posix()}" if relative.parts else f"{commit}^{{tree}}"
    try:
        listing = git(root, "ls-tree", "-r", "-z", spec)
    except UsageError:
        return None
    blobs: dict[str, str] = {}
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        info, _, name = entry.partition(b"\t")
        mode, kind, oid = info.split(b" ")
        rel = os.fsdecode(name)
        parts = rel.split("/")
        if (kind != b"blob" or not mode.startswith(b"100") or rel.startswith("/")
                or any(p in ("", ".", "..") for p in parts)):
            continue
        blobs[rel] = oid.decode("ascii")
    return blobs


def copy_revision(path: Path, commit: str, dest: Path,
                  local: Mapping[str, LocalFile]) -> Copied:
    """``materialize`` that takes from this machine each file whose bytes are already
    here: a file whose blob at ``commit`` is that of ``local[path relative to the
    folder]`` is hard-linked from it (copied where it cannot be), and only the others are
    read from git (``git archive`` of just those paths, with the filters and end-of-line
    conversion a checkout applies).

    A file linked here is the caller's own: nothing may write to the copy. A local file
    whose bytes are its blob's is taken as it is (the bytes a checkout of an unfiltered
    file has). Files are matched by their SHA-1 blob ids, as git matches them: the half
    of a colliding pair a working file would need at ``commit`` cannot be stored by a git
    with its collision detection (the default since git 2.13), and ours are text files."""
    root = repo_root(path)
    relative = path.resolve().relative_to(root.resolve())
    target = dest / (relative.as_posix() if relative.parts else ".")
    target.mkdir(parents=True, exist_ok=True)
    blobs = _tree_blobs(root, relative, commit)
    if blobs is None:
        return Copied(target, {})  # the folder did not exist at that revision
    folders: set[str] = set()
    fetch: list[str] = []
    linking = True
    for rel, blob in blobs.items():
        folder = rel.rpartition("/")[0]
        if folder and folder not in folders:
            (target / folder).mkdir(parents=True, exist_ok=True)
            folders.add(folder)
        here = local.get(rel)
        if here is None or here.blob != blob:
            fetch.append(rel)
            continue
        out = os.path.join(target, rel)
        if linking:
            try:
                os.link(here.path, out, follow_symlinks=False)
                continue
            except OSError:  # another file system, or links not allowed: copy from now on
                linking = False
        shutil.copyfile(here.path, out, follow_symlinks=False)
    if fetch:
        # Only what is fetched is written: never a path linked above (the caller's file).
        spec = f"{commit}:{relative.as_posix()}" if relative.parts else commit
        named = fetch if sum(len(r) + 1 for r in fetch) < _MAX_ARGUMENTS else []
        written = _extract(git(root, "--literal-pathspecs", "archive", "--format=tar", spec,
                               "--", *named), target, only=frozenset(fetch))
        for rel in fetch:
            if rel not in written:  # left out of archives (export-ignore): as materialize
                del blobs[rel]
    return Copied(target, blobs)


# Bytes of paths passed to one `git archive`, well under any system's limit on a command
# line; past it the whole revision is archived and only the paths wanted are written.
_MAX_ARGUMENTS = 64 * 1024
