"""How the benchmarks measure: CPU time next to a floor, alternating, and instructions.

The machine the benchmarks run on is often shared: wall time counts every other process.
A process's own CPU time (user + system) is what its wall time would be alone on the
machine for single-threaded work, and the floor of the same work is measured in the same
run, round by round alternating with the figure, so drift hits both alike. Where valgrind
is installed, ``HZNCTL_BENCH_CALLGRIND=1`` also counts instructions, which no load moves.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Ratio:
    """The fastest round of a figure and of its floor, and what one costs over the other."""

    name: str
    figure: float
    floor: float
    unit: str = "s CPU"

    @property
    def ratio(self) -> float:
        return self.figure / self.floor if self.floor else float("inf")

    def line(self) -> str:
        return (f"{self.name}: {self.figure:.4g} {self.unit}, floor {self.floor:.4g} "
                f"{self.unit}, ratio {self.ratio:.2f}")


def cpu(func: Callable[[], object]) -> float:
    """CPU seconds of this process spent in ``func``."""
    started = time.process_time()
    func()
    return time.process_time() - started


def alternate(name: str, figure: Callable[[], float], floor: Callable[[], float],
              rounds: int) -> Ratio:
    """Fastest of ``rounds`` of each, figure and floor taking turns."""
    figures: list[float] = []
    floors: list[float] = []
    for _ in range(rounds):
        figures.append(figure())
        floors.append(floor())
    return Ratio(name, min(figures), min(floors))


def process_cpu(argv: Sequence[str], *, env: dict[str, str] | None = None,
                cwd: str | None = None) -> float:
    """User + system CPU seconds of one run of a process (and its waited-for children)."""
    # stderr into a file, not a pipe: a process that writes more than a pipe holds would
    # block on it while we wait for it to exit.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, stderr=errors,
                                   env=env, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        stderr = errors.read()
    if process.returncode != 0:
        raise AssertionError(f"{argv} exited {process.returncode}: {stderr[-2000:]!r}")
    return usage.ru_utime + usage.ru_stime


def callgrind_enabled() -> bool:
    return bool(os.environ.get("HZNCTL_BENCH_CALLGRIND")) and shutil.which("valgrind") is not None


def instructions(argv: Sequence[str], *, env: dict[str, str] | None = None) -> int:
    """Instructions one run of a process executes (valgrind's callgrind, load-proof)."""
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          *argv], capture_output=True, text=True, env=env, timeout=1800,
                         check=True)
    match = re.search(r"Collected : (\d+)", out.stderr)
    assert match, out.stderr[-2000:]
    return int(match.group(1))
