"""`compile` on the large generated inventory.

Targets (issue 3): compile ≤ 2× validate; a recompile with no change rewrites nothing.
Also measured: the naive way of rendering, a fresh Jinja2 environment and template load
per program, against ours (one environment per compile, each template compiled once).

Compile is timed as a user waits for it: wall seconds of the fastest of three rounds,
validate included, writing every host's bundle into a new folder, on as many processes as
``hznctl compile`` uses by default (and, for comparison, on one). The breakdown is in CPU
seconds of one process. Run it on a quiet machine: wall time counts every other process
too. Full scale (prints the ratios and where the time goes):

    HZNCTL_BENCH_SCALE=1 .venv/bin/pytest benchmarks/test_compile_bench.py -p no:cacheprovider -s
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from benchmarks.generate import generate_inventory, sizes
from hznctl.bundle.writer import write_bundles
from hznctl.compile import parallel
from hznctl.pipeline import build_bundles, compile_inventory
from hznctl.targets.supervisord import verify
from hznctl.targets.supervisord.render import make_environment
from hznctl.validate import validate_inventory

# The target is compile ≤ 2× validate. Not met: on a 2-core machine the full
# inventory compiles in about 4-5× validate, and validating plus writing the bundles'
# 57,000 files, with no rendering at all, already takes about 2.4× (printed as "floor");
# this guards against getting worse. A small inventory's compile is mostly fixed costs
# (writing files, no fork), so the test suite's small run only guards against a blow-up.
TARGET_RATIO = 2.0
MAX_RATIO = 6.0
MAX_RATIO_SMALL = 60.0


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


def _wall(func, *args, **kwargs):
    started = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - started, result


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
    rounds = 3
    validate_time = min(_wall(validate_inventory, inventory)[0] for _ in range(rounds))
    validation = validate_inventory(inventory)
    assert validation.ok()
    outs = iter(range(1000))

    def compile_and_write(jobs: int | None) -> tuple[float, object]:
        # Each round writes a new folder; none is deleted before the end: deleting a large
        # tree makes the next one's file creation slow on some filesystems (discard).
        out = tmp_path / f"out{next(outs)}"
        started = time.perf_counter()
        result = compile_inventory(inventory, revision=None, jobs=jobs)
        write_bundles(out, result.bundles)
        return time.perf_counter() - started, result

    timings: list[float] = []
    serial_timings: list[float] = []

    def one_round():
        # One process and the default alternate: the machine's state (the filesystem's
        # above all) drifts over rounds, and both see the same drift.
        seconds, result = compile_and_write(None)
        timings.append(seconds)
        serial_timings.append(compile_and_write(1)[0])
        return result

    result = benchmark.pedantic(one_round, rounds=rounds, iterations=1)
    compile_time, serial_time = min(timings), min(serial_timings)
    clock = _VerifyClock(monkeypatch)
    build_time, bundles = _cpu(build_bundles, validation.inventory)
    verify_time = clock.seconds
    monkeypatch.undo()
    write_time, _ = _wall(write_bundles, tmp_path / "written", bundles)
    naive_time, naive = _cpu(build_bundles, validation.inventory,
                             templates=FreshEnvironmentPerProgram(inventory))
    programs = sum(len(b.manifest.groups) for b in bundles.values())
    assert {h: b.all_files() for h, b in naive.items()} == \
        {h: b.all_files() for h, b in result.bundles.items()}
    ratio, serial_ratio = compile_time / validate_time, serial_time / validate_time
    # What no rendering speed can go under: validating, then writing the files.
    floor = (validate_time + write_time) / validate_time
    jobs = parallel.default_jobs() if programs >= parallel.MIN_PROGRAMS else 1
    benchmark.extra_info.update({
        "programs": programs, "jobs": jobs, "validate_s": round(validate_time, 3),
        "compile_s": round(compile_time, 3), "compile_one_process_s": round(serial_time, 3),
        "build_cpu_s": round(build_time, 3), "verify_cpu_s": round(verify_time, 3),
        "write_s": round(write_time, 3), "naive_build_cpu_s": round(naive_time, 3),
        "compile_over_validate": round(ratio, 2),
        "compile_one_process_over_validate": round(serial_ratio, 2),
        "naive_over_ours": round(naive_time / build_time, 2),
        "floor_over_validate": round(floor, 2),
    })
    print(f"\ncompile: {programs} programs (scale {scale}); validate {validate_time:.2f}s; "
          f"compile and write {compile_time:.2f}s on {jobs} process(es) "
          f"({ratio:.2f}x validate), {serial_time:.2f}s in one ({serial_ratio:.2f}x); "
          f"building bundles {build_time:.2f}s CPU in one process, of which read-back "
          f"{verify_time:.2f}s; writing {write_time:.2f}s; naive building "
          f"{naive_time:.2f}s CPU ({naive_time / build_time:.2f}x ours); floor "
          f"(validate and write, no rendering) {floor:.2f}x validate; target "
          f"{TARGET_RATIO:.1f}x validate {'met' if ratio <= TARGET_RATIO else 'NOT met'}")
    assert ratio <= (MAX_RATIO if scale >= 0.5 else MAX_RATIO_SMALL)


def test_an_unchanged_recompile_rewrites_nothing(benchmark, inventory, tmp_path):
    out = tmp_path / "bundles"
    bundles = compile_inventory(inventory, revision=None).bundles
    write_bundles(out, bundles)
    before = _stats(out)
    result = benchmark.pedantic(write_bundles, args=(out, bundles), rounds=1, iterations=1)
    assert not result.changed
    assert _stats(out) == before
