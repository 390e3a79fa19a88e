"""`hznctl --help` against the floor of starting the interpreter at all (`python -c pass`).

Goal: ≤ 3× in CPU time of the whole process, each measured in the same run, alternating
rounds. With ``HZNCTL_BENCH_CALLGRIND=1`` (valgrind installed) also in instructions, which
a busy machine cannot move:

    HZNCTL_BENCH_CALLGRIND=1 .venv/bin/pytest -s -p no:cacheprovider \
        benchmarks/test_startup_bench.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.measure import Ratio, alternate, callgrind_enabled, instructions, process_cpu

GOAL = 3.0
# A small CPU-time margin: the machine's other processes steal caches from short runs.
MAX_CPU_RATIO = 4.0
HZNCTL = [sys.executable, "-m", "hznctl"]
ENTRY = str(Path(sys.executable).with_name("hznctl"))


def _help_argv() -> list[str]:
    # The installed entry point is what a user runs; `python -m hznctl` when not installed.
    return [ENTRY, "--help"] if Path(ENTRY).exists() else [*HZNCTL, "--help"]


def test_help_against_the_interpreter_start(benchmark) -> None:
    floor = [sys.executable, "-c", "pass"]
    measured = benchmark.pedantic(
        alternate, args=("hznctl --help", lambda: process_cpu(_help_argv()),
                         lambda: process_cpu(floor), 15), rounds=1, iterations=1)
    benchmark.extra_info.update(cpu_s=measured.figure, floor_cpu_s=measured.floor,
                                ratio=round(measured.ratio, 3), goal=GOAL)
    print(f"\n{measured.line()} (goal {GOAL:.1f}): {' '.join(_help_argv())} vs "
          f"{' '.join(floor)}")
    if callgrind_enabled():
        counted = Ratio("hznctl --help", instructions(_help_argv()), instructions(floor),
                        unit="instructions")
        print(counted.line())
        benchmark.extra_info.update(instructions_ratio=round(counted.ratio, 3))
        assert counted.ratio <= GOAL
    assert measured.ratio <= MAX_CPU_RATIO
