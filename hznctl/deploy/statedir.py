"""The host's state folder, opened so that nobody else can redirect what a deploy writes.

A deploy often runs as root. Whoever could put a symbolic link in the state folder — in
place of `deploy.lock`, `deploys.jsonl`, `deploy.json`, `host` or `bundles` — would have it
truncate, append to or replace any file on the machine. So:

- the state folder itself must be a real folder (not a link), owned by the user who
  deploys and writable by nobody else: then only that user (or root) can change its
  entries, and what is checked here stays true while the deploy runs;
- every file in it is opened with ``O_NOFOLLOW`` relative to the folder's descriptor, and
  an entry that is a link is refused with the fix to apply, never followed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from hznctl.errors import HznctlError

NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


class StateError(HznctlError):
    """The state folder or a file in it is not safe to use (a link, a foreign owner …)."""


def _unsafe(path: Path, st: os.stat_result, what: str) -> str | None:
    if stat.S_ISLNK(st.st_mode):
        return (f"{what} {path} is a symbolic link; hznctl never follows links in its state "
                f"folder. Replace it with a real folder (or point --state-dir at one).")
    if not stat.S_ISDIR(st.st_mode):
        return f"{what} {path} is not a folder; move it away or point --state-dir elsewhere."
    if st.st_uid != os.geteuid():
        return (f"{what} {path} is owned by uid {st.st_uid}, not by the user deploying "
                f"(uid {os.geteuid()}): deploy as its owner, or `chown -R "
                f"{os.geteuid()} {path}`.")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (f"{what} {path} is writable by its group or by others, who could then "
                f"replace what hznctl installs: `chmod go-w {path}`.")
    return None


def check_folder(path: Path, what: str = "the state folder") -> None:
    """Refuse a folder that is a link, not ours, or writable by group or others."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise StateError(f"cannot look at {what} {path}: {exc.strerror}") from None
    problem = _unsafe(path, st, what)
    if problem is not None:
        raise StateError(problem + " Nothing was changed.")


def ensure_state_dir(path: Path, *, create: bool) -> bool:
    """Check the state folder (creating it, mode 0755, when ``create``); False when it does
    not exist and was not created."""
    if create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(path, 0o755)
        except FileExistsError:
            pass
        except OSError as exc:
            raise StateError(f"cannot create the state folder {path}: {exc.strerror}; run "
                             "the deploy as the user that owns it. Nothing was changed.") from None
        else:
            os.chmod(path, 0o755, follow_symlinks=False)  # whatever the umask
    elif not os.path.lexists(path):
        return False
    check_folder(path)
    return True


@contextlib.contextmanager
def folder_fd(path: Path) -> Iterator[int]:
    """A descriptor of ``path`` itself, never of what a link there points to
    (FileNotFoundError when there is none)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | NOFOLLOW)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StateError(_open_failed(path, exc)) from None
    try:
        yield fd
    finally:
        os.close(fd)


def _open_failed(path: Path, exc: OSError) -> str:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):
        return (f"{path} is a symbolic link; hznctl never follows links in its state folder: "
                f"remove it (`rm {path}`) and run again. Nothing was changed.")
    return f"cannot open {path}: {exc.strerror}"


def open_file(path: Path, flags: int, mode: int = 0o644) -> int:
    """Open a file of the state folder without following a link at its last component; the
    folder itself is opened the same way, so a link there is refused too."""
    with folder_fd(path.parent) as dir_fd:
        try:
            fd = os.open(path.name, flags | NOFOLLOW, mode, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StateError(_open_failed(path, exc)) from None
            raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise StateError(f"{path} is not a regular file; remove it and run again. "
                         "Nothing was changed.")
    return fd


def read_small(path: Path, limit: int = 1 << 20) -> bytes | None:
    """The content of a small state file (None when absent); a link is refused."""
    try:
        fd = open_file(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return os.read(fd, limit)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` by a new file holding ``data``: a fresh temporary name opened with
    O_EXCL, fsynced, renamed over ``path`` (a rename replaces a link, never its target)."""
    with folder_fd(path.parent) as dir_fd:
        tmp = f".{path.name}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, mode,
                     dir_fd=dir_fd)
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        os.fsync(dir_fd)


def unlink(path: Path) -> None:
    """Remove an entry of the state folder (the entry itself, link or file)."""
    with folder_fd(path.parent) as dir_fd:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path.name, dir_fd=dir_fd)
        os.fsync(dir_fd)


def append_line(path: Path, line: str) -> None:
    """Append one whole line with one write (O_APPEND), never through a link at the file
    itself (its folder may be anywhere: ``--record FILE``)."""
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StateError(_open_failed(path, exc)) from None
        raise StateError(f"cannot write the deploy record {path}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise StateError(f"{path} is not a regular file; remove it and run again.")
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


# Entries of the state folder and what each must be when present.
FILES = ("deploy.lock", "deploy.json", "deploys.jsonl", "host")
LINKS = ("current", "previous")
FOLDERS = ("bundles",)


def check_entries(state_dir: Path) -> None:
    """Refuse before anything is done when an entry of the state folder is not what hznctl
    makes there: a link in place of a file or folder, a folder of someone else."""
    for name in (*FILES, *LINKS, *FOLDERS):
        path = state_dir / name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if name in LINKS:
            target = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
            if target is None or not _is_bundle_link(target):
                raise StateError(
                    f"{path} must be a link to bundles/<id> (it is "
                    f"{'a link to ' + repr(target) if target else 'not a link'}); it was "
                    f"changed by hand: remove it and deploy again. Nothing was changed.")
        elif name in FOLDERS:
            check_folder(path, "the bundles folder")
        elif not stat.S_ISREG(st.st_mode):
            kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
            raise StateError(
                f"{path} is {kind}; hznctl never follows links in its state folder: "
                f"remove it (`rm {path}`) and run again. Nothing was changed.")


def _is_bundle_link(target: str) -> bool:
    head, _, ident = target.partition("/")
    return head == "bundles" and bool(ident) and "/" not in ident and not ident.startswith(".")
