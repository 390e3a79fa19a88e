"""Build a case inventory: cases/base/ with the case's files laid over it.

A case folder holds only what differs from the small valid inventory in cases/base/:

* any inventory file (it replaces the base's file of the same path, or is added);
* ``remove.txt``: paths of base files to delete, one a line;
* ``pad.txt``: ``<path> <bytes>`` lines; the file is padded with comment lines to that size
  (for the size limit, without committing a megabyte);
* ``expected.txt``: the exact diagnostics, as `hznctl validate` prints them (not copied).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CASES = Path(__file__).parent / "cases"
BASE = CASES / "base"
CONTROL_FILES = {"expected.txt", "remove.txt", "pad.txt"}


def build_case(case: Path, dest: Path) -> Path:
    shutil.copytree(BASE, dest, symlinks=True)
    for folder, _dirs, files in os.walk(case):
        rel_folder = Path(folder).relative_to(case)
        for name in files:
            if rel_folder == Path(".") and name in CONTROL_FILES:
                continue
            target = dest / rel_folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.exists():
                target.unlink()
            shutil.copy2(Path(folder) / name, target, follow_symlinks=False)
    for line in _lines(case / "remove.txt"):
        (dest / line).unlink()
    for line in _lines(case / "pad.txt"):
        path, size = line.rsplit(" ", 1)
        _pad(dest / path, int(size))
    return dest


def _lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _pad(path: Path, size: int) -> None:
    data = path.read_bytes()
    filler = b"# " + b"x" * 77 + b"\n"
    missing = max(0, size - len(data))
    path.write_bytes(data + filler * (missing // len(filler) + 1))


def expected_lines(case: Path) -> list[str]:
    return _lines(case / "expected.txt")
