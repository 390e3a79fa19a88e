"""`compile` on the large generated inventory.

Targets (issue 3): compile ≤ 2× validate; a recompile with no change rewrites nothing.
Also measured: the naive way of rendering, a fresh Jinja2 environment and template load
per program, against ours (one environment per compile, each template compiled once).

Times are CPU seconds of the fastest round (the machine is shared; see
``test_validate_bench.best_of``). Full scale (prints the ratios and where the time goes):

    HZNCTL_BENCH_SCALE=1 .venv/bin/pytest benchmarks/test_compile_bench.py -p no:cacheprovider -s
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from benchmarks.generate import generate_inventory, sizes
from hznctl.bundle import write_bundles
from hznctl.compile import verify
from hznctl.compile.compiler import build_bundles, compile_inventory
from hznctl.compile.render import make_environment
from hznctl.validate import validate_inventory

# Not the 2× yet: every distinct program file is read back with supervisor's own
# parser, which alone costs several times validate. This guards against a blow-up.
MAX_RATIO = 15.0


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


def _cpu(func, *args, **kwargs):
    started = time.process_time()
    result = func(*args, **kwargs)
    return time.process_time() - started, result


def _best(rounds, func, *args, **kwargs):
    runs = [_cpu(func, *args, **kwargs) for _ in range(rounds)]
    return min(t for t, _ in runs), runs[-1][1]


class _VerifyClock:
    """CPU time spent reading programs back (the one supervisor-bound phase)."""

    def __init__(self, monkeypatch) -> None:
        self.seconds = 0.0
        read, check = verify.Verifier.read, verify.Verifier.verify

        def timed(original):
            def run(*args):
                started = time.process_time()
                try:
                    return original(*args)
                finally:
                    self.seconds += time.process_time() - started
            return run

        monkeypatch.setattr(verify.Verifier, "read", timed(read))
        monkeypatch.setattr(verify.Verifier, "verify", timed(check))


def _stats(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (os.stat(p).st_ino, os.stat(p).st_mtime_ns) for p in root.rglob("*")}


@pytest.mark.timeout(3600)  # full scale: the naive renderer alone takes minutes
def test_compile_against_validate_and_the_naive_renderer(benchmark, inventory, tmp_path,
                                                         scale, monkeypatch):
    rounds = 1 if scale >= 0.5 else 3
    validate_time, validation = _best(rounds, validate_inventory, inventory)
    assert validation.ok()
    naive_time, naive = _cpu(build_bundles, validation.inventory,
                             templates=FreshEnvironmentPerProgram(inventory))
    outs = iter(range(1000))
    cpu_rounds: list[float] = []

    def compile_and_write():
        out = tmp_path / f"out{next(outs)}"
        started = time.process_time()
        result = compile_inventory(inventory, revision=None)
        write_bundles(out, result.bundles)
        cpu_rounds.append(time.process_time() - started)
        shutil.rmtree(out)
        return result

    result = benchmark.pedantic(compile_and_write, rounds=rounds, iterations=1)
    compile_time = min(cpu_rounds)
    clock = _VerifyClock(monkeypatch)
    build_time, bundles = _cpu(build_bundles, validation.inventory)
    write_time, _ = _cpu(write_bundles, tmp_path / "written", bundles)
    programs = sum(len(b.manifest.groups) for b in bundles.values())
    assert {h: b.all_files() for h, b in naive.items()} == \
        {h: b.all_files() for h, b in result.bundles.items()}
    ratio = compile_time / validate_time
    benchmark.extra_info.update({
        "programs": programs, "validate_cpu_s": round(validate_time, 3),
        "compile_cpu_s": round(compile_time, 3), "render_cpu_s": round(build_time, 3),
        "verify_cpu_s": round(clock.seconds, 3), "write_cpu_s": round(write_time, 3),
        "naive_render_cpu_s": round(naive_time, 3),
        "compile_over_validate": round(ratio, 2),
        "naive_over_ours": round(naive_time / build_time, 2),
    })
    print(f"\ncompile: {programs} programs (scale {scale}); validate {validate_time:.2f}s, "
          f"compile {compile_time:.2f}s CPU ({ratio:.2f}x validate); building bundles "
          f"{build_time:.2f}s, of which read-back {clock.seconds:.2f}s; writing "
          f"{write_time:.2f}s; naive rendering {naive_time:.2f}s "
          f"({naive_time / build_time:.2f}x ours)")
    assert ratio <= MAX_RATIO


def test_an_unchanged_recompile_rewrites_nothing(benchmark, inventory, tmp_path):
    out = tmp_path / "bundles"
    bundles = compile_inventory(inventory, revision=None).bundles
    write_bundles(out, bundles)
    before = _stats(out)
    result = benchmark.pedantic(write_bundles, args=(out, bundles), rounds=1, iterations=1)
    assert not result.changed
    assert _stats(out) == before
