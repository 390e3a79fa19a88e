"""Benchmarks: `make bench` measures at full scale; the test suite runs them once, small."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def scale() -> float:
    """Fraction of the full benchmark size (HZNCTL_BENCH_SCALE, default 1)."""
    return float(os.environ.get("HZNCTL_BENCH_SCALE", "1"))
