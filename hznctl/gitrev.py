"""Reading the inventory as it was at a git revision (for `plan --base` and `policy check`)."""

from __future__ import annotations

import io
import subprocess
import tarfile
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
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive.getmembers():
            name = Path(member.name)
            if name.is_absolute() or ".." in name.parts:
                continue
            if member.isdir():
                (target / name).mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                out = target / name
                out.parent.mkdir(parents=True, exist_ok=True)
                extracted = archive.extractfile(member)
                if extracted is not None:
                    out.write_bytes(extracted.read())
    return target
