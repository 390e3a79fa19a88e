"""Benchmarks: `make bench` measures at full scale; the test suite runs them once, small."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def scale() -> float:
    """Fraction of the full benchmark size (HZNCTL_BENCH_SCALE, default 1)."""
    return float(os.environ.get("HZNCTL_BENCH_SCALE", "1"))


@pytest.fixture(scope="session", autouse=True)
def _compiled_package() -> None:
    """hznctl's bytecode, written once before any process is timed.

    An installed hznctl has it (pip compiles at install); an editable checkout gets it on
    the first run, unless PYTHONDONTWRITEBYTECODE is set, as in some CI shells. Without
    it every timed process would compile the package's source again, a cost no user pays.
    """
    import compileall
    from pathlib import Path

    import hznctl

    compileall.compile_dir(str(Path(hznctl.__file__).parent), quiet=1)
