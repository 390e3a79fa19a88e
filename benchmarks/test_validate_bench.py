"""`validate` on a generated fleet against the floor of composing the same files.

Full size (``make bench``, HZNCTL_BENCH_SCALE=1): 2,000 applications, 500 connections,
200 hosts, 10,000 worker groups. The floor is what no strict loader can go under: reading
every YAML file validate reads and composing it with PyYAML's C composer
(``yaml.compose(data, Loader=yaml.CSafeLoader)``: libyaml's parser, the resolver, a node
per value), and nothing else. Goal: validate's CPU time ≤ 1.5× the floor's at full size,
measured in the same run, round by round alternating; linear: the ratio at a quarter and at
twice the fleet is reported, and may not grow more than 1.5× from the quarter (fixed costs
make the quarter's ratio the larger one); peak memory ≤ 500 MB.

    HZNCTL_BENCH_SCALE=1 .venv/bin/pytest -s -p no:cacheprovider \
        benchmarks/test_validate_bench.py

Whole processes too: ``hznctl validate FLEET`` against ``python`` composing the same
files, in CPU time. Both pay the interpreter's start; only the figure pays hznctl's imports
(pydantic, click) and freeing what it built. With ``HZNCTL_BENCH_CALLGRIND=1`` (valgrind
installed) also in instructions, which no load moves: whole process against whole process,
and the work alone (each side's start, imports included, subtracted):

    HZNCTL_BENCH_SCALE=1 HZNCTL_BENCH_CALLGRIND=1 .venv/bin/pytest -s -p no:cacheprovider \
        benchmarks/test_validate_bench.py -k process
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchmarks.generate import generate_inventory, sizes
from benchmarks.measure import Ratio, alternate, callgrind_enabled, cpu, instructions, process_cpu
from hznctl.validate import validate_inventory

GOAL = 1.5
# A small fleet is dominated by fixed costs (rule modules, the project file, the defaults):
# the suite's quick run (scale 0.02) only guards against blow-ups.
MAX_RATIO_SMALL = 4.0
MAX_PROCESS_RATIO = 2.5
MAX_PEAK_MB = 500
# Validate's ratio to its floor may grow this much from a quarter of the fleet to the
# fleet or to twice the fleet; more means work that grows faster than the inventory.
MAX_GROWTH = 1.5


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory, scale: float) -> Path:
    return generate_inventory(tmp_path_factory.mktemp("bench") / "inventory", **sizes(scale))


@pytest.fixture(scope="session")
def quarter_fleet(tmp_path_factory: pytest.TempPathFactory, scale: float) -> Path:
    return generate_inventory(tmp_path_factory.mktemp("bench") / "quarter",
                              **sizes(scale / 4))


@pytest.fixture(scope="session")
def double_fleet(tmp_path_factory: pytest.TempPathFactory, scale: float) -> Path:
    return generate_inventory(tmp_path_factory.mktemp("bench") / "double", **sizes(scale * 2))


def yaml_files(root: Path) -> list[Path]:
    """Every file validate reads: the inventory's kinds and the secret files under secrets/
    (the generator writes only ``*.yaml``, and nothing validate skips)."""
    return sorted(root.rglob("*.yaml"))


def compose_floor(files: list[Path]) -> int:
    """Read and compose every file validate reads, and nothing else (the floor).

    ``yaml.compose`` is ``get_single_node()`` of one loader: one document per file, as
    inventory files are (a second document is an error there, too).
    """
    for path in files:
        yaml.compose(path.read_bytes(), Loader=yaml.CSafeLoader)
    return len(files)


def _validate_cpu(root: Path) -> float:
    def run() -> None:
        result = validate_inventory(root)
        assert result.ok(strict=True), result.diagnostics[:5]
    return cpu(run)


def measure(root: Path, rounds: int) -> Ratio:
    files = yaml_files(root)
    return alternate("validate", lambda: _validate_cpu(root),
                     lambda: cpu(lambda: compose_floor(files)), rounds)


def test_validate_speed(benchmark, fleet: Path, quarter_fleet: Path, double_fleet: Path,
                        scale: float) -> None:
    rounds = 3 if scale >= 0.5 else 5
    measured = benchmark.pedantic(measure, args=(fleet, rounds), rounds=1, iterations=1)
    quarter = measure(quarter_fleet, rounds)
    double = measure(double_fleet, max(2, rounds - 1))
    growth = max(measured.ratio, double.ratio) / quarter.ratio
    benchmark.extra_info.update(
        validate_cpu_s=round(measured.figure, 3), floor_cpu_s=round(measured.floor, 3),
        ratio_cpu=round(measured.ratio, 3), goal=GOAL, files=len(yaml_files(fleet)),
        quarter_ratio_cpu=round(quarter.ratio, 3), double_ratio_cpu=round(double.ratio, 3),
        growth=round(growth, 3), max_growth=MAX_GROWTH)
    print(f"\nscale {scale}: {measured.line()} (goal {GOAL}, compose floor: "
          f"yaml.compose with CSafeLoader over {len(yaml_files(fleet))} files)\n"
          f"scale {scale / 4}: {quarter.line()}\nscale {scale * 2}: {double.line()}\n"
          f"growth {growth:.2f} (max {MAX_GROWTH})")
    assert growth <= MAX_GROWTH, "validate grows faster than the inventory"
    assert measured.ratio <= (GOAL if scale >= 0.5 else MAX_RATIO_SMALL)


_FLOOR_SCRIPT = """
import sys, yaml
for path in sys.argv[1:]:
    with open(path, "rb") as handle:
        yaml.compose(handle.read(), Loader=yaml.CSafeLoader)
"""


_VALIDATE_START = """
import sys
from pathlib import Path
import hznctl.compile.programs, hznctl.runtimes  # what the rules import when they first run
from hznctl import rules
from hznctl.validate import validate_inventory
rules._load_rule_modules()
"""
_VALIDATE_SCRIPT = _VALIDATE_START + """
assert validate_inventory(Path(sys.argv[1])).ok(strict=True)
"""


def _hznctl() -> list[str]:
    entry = Path(sys.executable).with_name("hznctl")
    return [str(entry)] if entry.exists() else [sys.executable, "-m", "hznctl"]


def test_validate_process_against_compose_process(benchmark, fleet: Path, scale: float) -> None:
    """Whole processes: what a user waits for, interpreter start and imports included."""
    figure = [*_hznctl(), "validate", "--strict", "--quiet", str(fleet)]
    floor = [sys.executable, "-c", _FLOOR_SCRIPT, *map(str, yaml_files(fleet))]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    measured = benchmark.pedantic(
        alternate, args=("hznctl validate (process)", lambda: process_cpu(figure, env=env),
                         lambda: process_cpu(floor, env=env), 3), rounds=1, iterations=1)
    benchmark.extra_info.update(process_ratio_cpu=round(measured.ratio, 3))
    print(f"\nscale {scale}: {measured.line()} (both start the interpreter; the floor "
          "imports only yaml)")
    if callgrind_enabled():
        counted = Ratio("hznctl validate (process)", instructions(figure, env=env),
                        instructions(floor, env=env), unit="instructions")
        # The same work with each side's start subtracted: the interpreter and hznctl's
        # imports (the rule modules too) for the figure, the interpreter and yaml for the
        # floor; what is left is validate's work against composing the files.
        work = Ratio(
            "validate_inventory (start subtracted)",
            instructions([sys.executable, "-c", _VALIDATE_SCRIPT, str(fleet)], env=env)
            - instructions([sys.executable, "-c", _VALIDATE_START, str(fleet)], env=env),
            instructions(floor, env=env)
            - instructions([sys.executable, "-c", "import sys, yaml"], env=env),
            unit="instructions")
        print(f"{counted.line()}\n{work.line()}")
        benchmark.extra_info.update(instructions_ratio=round(counted.ratio, 3),
                                    work_instructions_ratio=round(work.ratio, 3))
    # A guard, not the goal: the figure also pays hznctl's imports (about a quarter of a
    # second: pydantic, click, the models) and freeing what it built at exit, which the
    # floor does not; on a small fleet they are nearly all of it.
    assert measured.ratio <= (MAX_PROCESS_RATIO if scale >= 0.5 else 3 * MAX_RATIO_SMALL)


# VmHWM, the peak of this process's own memory: ru_maxrss would also count the RSS of the
# test process that forked it (Linux keeps the larger across fork and exec).
_PEAK_SCRIPT = """
import json, resource, sys
from pathlib import Path
from hznctl.validate import validate_inventory
result = validate_inventory(Path(sys.argv[1]))
try:
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except OSError:  # not Linux: the larger figure, still an upper bound
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_mb": peak_kb / 1024, "ok": result.ok(strict=True)}))
"""


def test_validate_peak_memory(fleet: Path, scale: float) -> None:
    # In a fresh interpreter: the test process's own memory would otherwise count.
    out = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(fleet)], check=True,
                         capture_output=True, text=True, timeout=600)
    measured = json.loads(out.stdout)
    print(f"\npeak RSS of validate: {measured['peak_mb']:.0f} MB (scale {scale})")
    assert measured["ok"]
    assert measured["peak_mb"] <= MAX_PEAK_MB


def test_generator_is_deterministic_and_valid(tmp_path: Path) -> None:
    def digest(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.yaml"))}

    first = generate_inventory(tmp_path / "a", **sizes(0.01), seed=7)
    second = generate_inventory(tmp_path / "b", **sizes(0.01), seed=7)
    other = generate_inventory(tmp_path / "c", **sizes(0.01), seed=8)
    assert digest(first) == digest(second)
    assert digest(first) != digest(other)
    result = validate_inventory(first)
    assert result.diagnostics == []  # secret files' recipients match placement, too
    runtimes = {app.runtime.value for app in result.inventory.applications.values()}
    assert runtimes == {"laravel-horizon", "laravel-queue", "rq", "celery", "command"}
