"""Atomic writes: the old content or the new, and nothing found at the path can stall one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hznctl.atomic import create_bytes, write_bytes


@pytest.mark.timeout(20)
def test_a_fifo_at_the_path_is_replaced_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    os.mkfifo(path)  # a plain read of it would wait for a writer forever
    assert write_bytes(path, b"new\n") is True
    assert stat.S_ISREG(path.lstat().st_mode) and path.read_bytes() == b"new\n"


def test_unchanged_content_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "f"
    assert write_bytes(path, b"same") is True
    inode = path.stat().st_ino
    assert write_bytes(path, b"same") is False
    assert path.stat().st_ino == inode
    assert write_bytes(path, b"same but longer") is True
    assert path.read_bytes() == b"same but longer"


@given(old=st.binary(max_size=64), new=st.binary(max_size=64))
def test_the_file_ends_with_exactly_the_new_bytes_and_no_leftovers(tmp_path_factory, old: bytes,
                                                                   new: bytes) -> None:
    folder = tmp_path_factory.mktemp("w")
    path = folder / "f"
    path.write_bytes(old)
    assert write_bytes(path, new, mode=0o600) is (old != new)
    assert path.read_bytes() == new
    assert sorted(p.name for p in folder.iterdir()) == ["f"]


def test_create_never_replaces(tmp_path: Path) -> None:
    path = tmp_path / "f"
    assert create_bytes(path, b"first") is True
    assert create_bytes(path, b"second") is False
    assert path.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]
