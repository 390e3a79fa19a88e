"""Findings made in a staged copy of the inventory name the operator's own files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hznctl.diagnostics import Diagnostic, Severity
from hznctl.inventory import display_path
from hznctl.scaffold.staging import relocated


def _finding(file: Path | str) -> Diagnostic:
    return Diagnostic(str(file), 3, 1, "workers[0].timeout", "too long", Severity.WARNING)


@pytest.mark.parametrize("relative", ["applications/shop.yaml", "hosts/a/b.yaml"])
def test_a_finding_in_the_staged_copy_names_the_real_file(tmp_path: Path, relative: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    real, staged = tmp_path / "inventory", tmp_path / "scratch-x1" / "inventory"
    monkeypatch.chdir(tmp_path)
    moved = relocated(_finding(os.path.relpath(staged / relative)), real, staged)
    assert moved.file == display_path(real / relative)
    assert "scratch" not in moved.file
    assert (moved.line, moved.path, moved.message) == (3, "workers[0].timeout", "too long")


def test_a_finding_elsewhere_is_left_as_it_is(tmp_path: Path) -> None:
    source = _finding("laravel-worker.conf")
    assert relocated(source, tmp_path / "inventory", tmp_path / "staged") == source
