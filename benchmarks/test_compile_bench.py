"""`compile` on the large generated inventory.

Targets (issue 3): compile ≤ 2× validate; a recompile with no change rewrites nothing.
Also measured: the naive way of rendering, a fresh Jinja2 environment and template load
per program, against ours (one environment per compile, each template compiled once).

Full scale: `HZNCTL_BENCH_SCALE=1 .venv/bin/pytest benchmarks/test_compile_bench.py
--benchmark-only -p no:cacheprovider -s` (prints the ratios).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from benchmarks.generate import generate_inventory, sizes
from hznctl.bundle import write_bundles
from hznctl.compile.compiler import build_bundles, compile_inventory
from hznctl.compile.render import make_environment
from hznctl.validate import validate_inventory


@pytest.fixture(scope="module")
def inventory(tmp_path_factory, scale):
    return generate_inventory(tmp_path_factory.mktemp("compile-bench") / "inventory",
                              **sizes(scale))


class FreshEnvironmentPerProgram:
    """The naive baseline: a new Jinja2 environment and template load for every program."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get_template(self, name: str):
        return make_environment(self.root).get_template(name)


def _timed(func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - start, result


def _stats(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (os.stat(p).st_ino, os.stat(p).st_mtime_ns) for p in root.rglob("*")}


def test_compile_against_validate_and_the_naive_renderer(benchmark, inventory, tmp_path):
    validate_time, validation = _timed(validate_inventory, inventory)
    assert validation.ok()
    naive_time, naive = _timed(build_bundles, validation.inventory,
                               templates=FreshEnvironmentPerProgram(inventory))
    outs = iter(range(1000))

    def compile_and_write():
        result = compile_inventory(inventory, revision=None)
        write_bundles(tmp_path / f"out{next(outs)}", result.bundles)
        return result

    result = benchmark.pedantic(compile_and_write, rounds=1, iterations=1)
    compile_time = benchmark.stats.stats.mean
    build_time, bundles = _timed(build_bundles, validation.inventory)
    programs = sum(len(b.manifest.groups) for b in bundles.values())
    assert {h: b.all_files() for h, b in naive.items()} == \
        {h: b.all_files() for h, b in result.bundles.items()}
    benchmark.extra_info.update({
        "programs": programs, "validate_s": round(validate_time, 3),
        "compile_s": round(compile_time, 3), "render_s": round(build_time, 3),
        "naive_render_s": round(naive_time, 3),
        "compile_over_validate": round(compile_time / validate_time, 2),
        "naive_over_ours": round(naive_time / build_time, 2),
    })
    print(f"\ncompile: {programs} programs; validate {validate_time:.2f}s, compile "
          f"{compile_time:.2f}s ({compile_time / validate_time:.2f}x validate); rendering "
          f"{build_time:.2f}s vs naive {naive_time:.2f}s ({naive_time / build_time:.2f}x)")


def test_an_unchanged_recompile_rewrites_nothing(benchmark, inventory, tmp_path):
    out = tmp_path / "bundles"
    bundles = compile_inventory(inventory, revision=None).bundles
    write_bundles(out, bundles)
    before = _stats(out)
    result = benchmark.pedantic(write_bundles, args=(out, bundles), rounds=1, iterations=1)
    assert not result.changed
    assert _stats(out) == before
