"""Atomic writes: a crash at any point leaves the old content or the new, never a mix."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hznctl.readfile import read_regular


@contextlib.contextmanager
def _staged(path: Path, data: bytes, mode: int) -> Iterator[str]:
    """A fully written, fsynced temporary file beside ``path``; removed if still there after."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def write_bytes(path: Path, data: bytes, *, mode: int = 0o644) -> bool:
    """Write ``data`` to ``path`` atomically; returns False (and touches nothing) if unchanged."""
    # Only a regular file can be "unchanged"; anything else there (a FIFO a plain read
    # would block on, a device) is read without blocking and replaced.
    try:
        if read_regular(path, len(data)) == data:
            return False
    except OSError:
        pass
    with _staged(path, data, mode) as tmp:
        os.replace(tmp, path)
    fsync_dir(path.parent)
    return True


def create_bytes(path: Path, data: bytes, *, mode: int = 0o644) -> bool:
    """Create ``path`` atomically with ``data``; returns False if it exists (never replaced)."""
    with _staged(path, data, mode) as tmp:
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
    fsync_dir(path.parent)
    return True


def write_text(path: Path, text: str, *, mode: int = 0o644) -> bool:
    return write_bytes(path, text.encode("utf-8"), mode=mode)


def append_line(path: Path, line: str) -> None:
    """Append one line (JSON-lines logs); a single write of a whole line with O_APPEND."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` atomically (create a new link, rename it over the old)."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)
    fsync_dir(link.parent)
