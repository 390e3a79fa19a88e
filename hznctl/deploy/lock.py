"""The deploy lock: an flock on `<state_dir>/deploy.lock`, so two deploys never interleave.

flock is released by the kernel when its holder dies, so a killed deploy never leaves a
stale lock behind; the file's content (who holds it) is only for the error message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from hznctl.deploy import statedir
from hznctl.errors import HznctlError


class LockTimeout(HznctlError):
    """Another deploy held the lock past the deadline."""


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return "another deploy"
    if not isinstance(info, dict) or "pid" not in info:
        return "another deploy"
    return f"deploy pid {info['pid']} on {info.get('host', '?')} since {info.get('since', '?')}"


@contextlib.contextmanager
def deploy_lock(state_dir: Path, *, timeout: float, poll: float = 0.05) -> Iterator[Path]:
    """Hold the host's deploy lock; wait at most ``timeout`` seconds for it."""
    path = state_dir / "deploy.lock"
    try:
        fd = statedir.open_file(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise HznctlError(f"cannot open the deploy lock {path}: {exc.strerror}; run the "
                          "deploy as the user that owns the state folder") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"{_holder(fd)} holds {path}; gave up after {timeout:g}s "
                        "(raise --lock-timeout to wait longer)") from None
                time.sleep(poll)
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing drops the flock
