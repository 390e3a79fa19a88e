"""Reading files hznctl did not write: regular files only, and never more than a limit.

A FIFO named ``*.yaml`` would block a read forever, a device could be endless or have
side effects when opened; both are refused by their type before any read, and a file is
read up to its limit and one byte more (so that "too large" is known without reading it
all).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


class NotARegularFile(OSError):
    """The path is something other than a regular file; ``str()`` says what."""


def kind_of(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_regular(path: str | Path, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of the regular file at ``path`` (symbolic links followed).

    Raises NotARegularFile at once for anything else, FileNotFoundError and other OSErrors
    as they come.
    """
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotARegularFile(f"{kind_of(mode)}, not a regular file")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode  # replaced between stat and open: judge what we opened
        if not stat.S_ISREG(mode):
            raise NotARegularFile(f"{kind_of(mode)}, not a regular file")
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def blob_id(data: bytes) -> str:
    """The object id git gives a blob of ``data`` in a repository of SHA-1 ids (the
    default; in one of SHA-256 ids no file matches, and ``gitrev.copy_revision`` reads
    every file from git)."""
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()
