"""Is an installed bundle still exactly what was staged? Every file against its manifest.

An installed bundle is a tree of read-only files (0444) in read-only folders (0555),
each file with one link only, owned by the user who deploys, and nothing else: its
``manifest.json`` hashes to the bundle's id and lists the hash of every other file.
Whatever differs is a `Tamper`: a file edited, deleted, replaced (by a link, a folder…),
re-permissioned, hard-linked from elsewhere, or added. Files are opened relative to
their folder's descriptor with O_NOFOLLOW, so a link is reported, never followed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hznctl.deploy.statedir import NOFOLLOW

MANIFEST = "manifest.json"
FILE_MODE = 0o444
FOLDER_MODE = 0o555

EDITED = "edited"
DELETED = "deleted"
REPLACED = "replaced"
PERMISSIONS = "re-permissioned"
LINKED = "hard-linked from elsewhere"
ADDED = "added"


@dataclass(frozen=True)
class Tamper:
    """One difference between an installed bundle and its manifest."""

    path: str  # relative to the bundle
    what: str

    def text(self) -> str:
        return f"{self.path} {self.what} on the host"


def manifest_intact(data: bytes, ident: str) -> bool:
    return hashlib.sha256(data).hexdigest()[:len(ident)] == ident


def verify_bundle(root: Path, ident: str, files: Mapping[str, str],
                  keep: dict[str, bytes] | None = None) -> list[Tamper]:
    """Every difference between the tree at ``root`` and manifest ``files`` (path → sha256),
    ``manifest.json`` hashing to ``ident``; an empty list when the bundle is intact.
    ``keep``: filled with the content of every file read whose hash is the manifest's
    (by hash), so that a bundle staged next need not read and hash those again."""
    expected = {**files, MANIFEST: ""}
    found: list[Tamper] = []
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | NOFOLLOW)
    except OSError:
        return [Tamper(".", REPLACED if os.path.lexists(root) else DELETED)]
    try:
        _check_folder(fd, ".", found)
        seen = _walk(fd, "", expected, ident, found, keep)
    finally:
        os.close(fd)
    found += [Tamper(p, DELETED) for p in sorted(set(expected) - seen)]
    return sorted(set(found), key=lambda t: (t.path, t.what))


def _walk(fd: int, prefix: str, expected: Mapping[str, str], ident: str,
          found: list[Tamper], keep: dict[str, bytes] | None) -> set[str]:
    seen: set[str] = set()
    folders = {p.split("/")[0] for p in _under(expected, prefix) if "/" in p}
    with os.scandir(fd) as entries:
        names = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in entries)
    for name, is_dir in names:
        rel = prefix + name
        if is_dir and name in folders:
            try:
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | NOFOLLOW, dir_fd=fd)
            except OSError:
                found.append(Tamper(rel, REPLACED))
                continue
            try:
                _check_folder(sub, rel, found)
                seen |= _walk(sub, rel + "/", expected, ident, found, keep)
            finally:
                os.close(sub)
        elif rel in expected:
            seen.add(rel)
            problem = _check_file(fd, name, rel, expected[rel], ident, keep)
            if problem is not None:
                found.append(problem)
        else:
            found.append(Tamper(rel, ADDED))
    return seen


def _under(paths: Iterable[str], prefix: str) -> list[str]:
    return [p[len(prefix):] for p in paths if p.startswith(prefix)]


def _check_folder(fd: int, rel: str, found: list[Tamper]) -> None:
    st = os.fstat(fd)
    if stat.S_IMODE(st.st_mode) != FOLDER_MODE or st.st_uid != os.geteuid():
        found.append(Tamper(rel + "/" if rel != "." else ".", PERMISSIONS))


def _check_file(dir_fd: int, name: str, rel: str, sha256: str, ident: str,
                keep: dict[str, bytes] | None = None) -> Tamper | None:
    try:
        fd = os.open(name, os.O_RDONLY | NOFOLLOW, dir_fd=dir_fd)
    except OSError as exc:
        return Tamper(rel, REPLACED if exc.errno in (errno.ELOOP, errno.ENXIO) else DELETED)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return Tamper(rel, REPLACED)
        data = _read_all(fd)
    finally:
        os.close(fd)
    intact = manifest_intact(data, ident) if rel == MANIFEST else (
        hashlib.sha256(data).hexdigest() == sha256)
    if not intact:
        return Tamper(rel, EDITED)
    if keep is not None and rel != MANIFEST:
        keep[sha256] = data
    if st.st_nlink != 1:
        return Tamper(rel, LINKED)
    if stat.S_IMODE(st.st_mode) != FILE_MODE or st.st_uid != os.geteuid():
        return Tamper(rel, PERMISSIONS)
    return None


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def groups_touched(tampers: Iterable[Tamper], group_files: Mapping[str, Iterable[str]]
                   ) -> dict[str, list[str]]:
    """Why each group is affected: the texts of the tampers of files it depends on (every
    group when the manifest itself or the bundle's folder changed)."""
    tampers = list(tampers)
    everyone = [t.text() for t in tampers if t.path in (MANIFEST, ".")]
    why: dict[str, list[str]] = {}
    for group, paths in group_files.items():
        mine = set(paths)
        texts = everyone + [t.text() for t in tampers if t.path in mine
                            or any(t.path == p.rsplit("/", 1)[0] + "/" for p in mine)]
        if texts:
            why[group] = texts
    return why
