"""`compile` on the large generated inventory, against a plain write of what it writes.

Figure (issue 18): CPU seconds of one ``hznctl compile -j 1`` process minus those of one
``hznctl validate`` process on the same inventory: what compiling costs beyond validating.

Floor, W + 50 µs per placed program. W is a plain one-thread write of the very same output
tree: the bytes compile produced, read into memory beforehand, written back with one
mkdir per folder and open/write/close per file, and a hard link wherever compile's own
output has one (compile writes each distinct content once and links the rest, so W does
the same). The 50 µs per program is an allowance for rendering and checking a program.

Figure and floor alternate round by round (``benchmarks.measure.alternate``), so a busy
machine slows both alike; each is timed on tmpfs (/dev/shm) and on disk. Disks mounted
with discard make creating a tree right after deleting a large one much dearer, so no
round's tree is deleted until the end. Growth: the ratio at this scale over the ratio at
scale 0.25 (1.0 is linear). Also printed, for comparison, what a user would write: one
Jinja2 environment, every placement rendered with its template and written plainly.

    HZNCTL_BENCH_SCALE=1 .venv/bin/pytest -s -p no:cacheprovider benchmarks/test_compile_bench.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.generate import generate_inventory, sizes
from benchmarks.measure import Ratio, alternate, cpu, process_cpu
from hznctl.bundle.writer import write_bundles
from hznctl.compile.compiler import SecretFiles
from hznctl.compile.programs import HostCompiler, ProgramBuilder
from hznctl.models.host import HostTarget
from hznctl.pipeline import build_bundles, compile_inventory
from hznctl.placement import groups_by_host
from hznctl.targets.supervisord.options import section
from hznctl.targets.supervisord.render import make_environment, render_program
from hznctl.validate import validate_inventory

PER_PROGRAM = 50e-6
# Goals of the issue at full scale: ratio ≤ 1, compile minus validate ≤ 3 s, peak ≤ 250 MB
# at scale 2. The ratio is not met yet (3-4.5x at full scale): its guards stop it getting
# worse. The peak is (a compile holds the inventory and the programs in use, writing each
# bundle as it is built): from scale 0.25 on it must stay within a budget growing linearly
# to the goal at scale 2. A tiny inventory is mostly fixed costs (interpreter start,
# imports): the smoke run's guards are loose.
GOAL_RATIO = 1.0
MAX_RATIO = 6.0
MAX_RATIO_SMALL = 40.0
MAX_PEAK_MB_SCALE_2 = 250
PEAK_MB_FIXED, PEAK_MB_PER_SCALE = 70, 90  # 250 at scale 2


def _peak_budget(scale: float) -> float:
    return PEAK_MB_FIXED + PEAK_MB_PER_SCALE * scale
HZNCTL = [sys.executable, "-c", "from hznctl.cli.main import run; run()"]


def _inventory(parent: Path, scale: float) -> Path:
    return generate_inventory(parent / "inventory", **sizes(scale))


@pytest.fixture(scope="module")
def inventory(tmp_path_factory, scale):
    return _inventory(tmp_path_factory.mktemp("compile-bench"), scale)


def _programs(inventory: Path) -> int:
    result = compile_inventory(inventory, revision=None, jobs=1)
    return sum(len(getattr(b.manifest, "groups", ())) for b in result.bundles.values())


class _Tree:
    """A compiled tree held in memory: folders, distinct contents, and the links to them."""

    def __init__(self, root: Path) -> None:
        self.folders: list[str] = []
        self.files: list[tuple[str, bytes]] = []
        self.links: list[tuple[str, str]] = []
        first: dict[tuple[int, int], str] = {}
        for folder, dirs, names in os.walk(root):
            dirs.sort()
            rel = os.path.relpath(folder, root)
            self.folders.append(rel)
            for name in sorted(names):
                path = os.path.join(folder, name)
                stat = os.lstat(path)
                key = (stat.st_dev, stat.st_ino)
                relpath = os.path.join(rel, name)
                if key in first:
                    self.links.append((first[key], relpath))
                else:
                    first[key] = relpath
                    with open(path, "rb") as handle:
                        self.files.append((relpath, handle.read()))

    def write(self, dest: Path) -> None:
        """W: the plain one-thread write of this tree."""
        for rel in self.folders:
            os.makedirs(os.path.join(dest, rel), exist_ok=True)
        for rel, data in self.files:
            with open(os.path.join(dest, rel), "wb") as handle:
                handle.write(data)
        for source, rel in self.links:
            os.link(os.path.join(dest, source), os.path.join(dest, rel))


def _fresh(base: Path) -> Iterator[Path]:
    for n in range(10_000):
        yield base / f"r{n}"


def _measure(inventory: Path, base: Path, rounds: int) -> tuple[Ratio, int]:
    base.mkdir(parents=True, exist_ok=True)
    reference = base / "reference"
    subprocess.run([*HZNCTL, "compile", "-j", "1", "--out", str(reference), str(inventory)],
                   check=True, capture_output=True)
    tree = _Tree(reference)
    programs = _programs(inventory)
    outs = _fresh(base)

    def figure() -> float:
        compiled = process_cpu([*HZNCTL, "compile", "-j", "1", "--out", str(next(outs)),
                                str(inventory)])
        return compiled - process_cpu([*HZNCTL, "validate", "-q", str(inventory)])

    def floor() -> float:
        return cpu(lambda: tree.write(next(outs))) + PER_PROGRAM * programs

    return alternate("compile -j1 minus validate", figure, floor, rounds), programs


_BASES = {"tmpfs": "/dev/shm", "disk": None}


@pytest.mark.timeout(7200)
def test_compile_against_a_plain_write(inventory, tmp_path, scale, tmp_path_factory):
    rounds = 3
    lines = [f"\ncompile, scale {scale}:"]
    worst = 0.0
    for where, parent in _BASES.items():
        if parent is not None and not os.path.isdir(parent):
            continue
        base = Path(tempfile.mkdtemp(prefix="hznctl-compile-bench-", dir=parent or tmp_path))
        try:
            measured, programs = _measure(inventory, base / "full", rounds)
            line = f"  {where}: {programs} programs; {measured.line()}"
            if scale > 0.25:
                quarter = _inventory(base / "quarter-inv", 0.25)
                small, _ = _measure(quarter, base / "quarter", rounds)
                line += (f"; at 0.25 {small.ratio:.2f}, growth "
                         f"{measured.ratio / small.ratio:.2f}")
            lines.append(line)
            worst = max(worst, measured.ratio)
        finally:
            shutil.rmtree(base, ignore_errors=True)
    lines.append(f"  goal {GOAL_RATIO:.1f}x {'met' if worst <= GOAL_RATIO else 'NOT met'}")
    print("\n".join(lines))
    assert worst <= (MAX_RATIO if scale >= 0.5 else MAX_RATIO_SMALL)


def test_what_a_user_would_write(inventory, tmp_path, scale):
    """One Jinja2 environment, every placement rendered with its template, plain writes.

    Printed for comparison with building and writing the bundles in this process (which
    also checks every value, writes exec specs and manifests atomically, links identical
    files and reads every distinct program back with supervisor's parser).
    """
    validation = validate_inventory(inventory)
    assert validation.ok()
    loaded = validation.inventory
    placed = groups_by_host(loaded)
    builder = ProgramBuilder(loaded, SecretFiles(loaded.root).identity)
    hosts = [h for h, host in loaded.hosts.items() if h in placed
             and host.target == HostTarget.SUPERVISORD]
    placements = [(h, p.program) for h in hosts
                  for p in HostCompiler(loaded.hosts[h], builder).programs(placed[h])]
    outs = _fresh(tmp_path)

    def naive() -> float:
        out = next(outs)

        def run() -> None:
            env = make_environment(loaded.root)
            for host, program in placements:
                written = section(program)
                folder = out / host
                folder.mkdir(parents=True, exist_ok=True)
                with open(folder / os.path.basename(written.file), "w") as handle:
                    handle.write(render_program(written, env))
        return cpu(run)

    def ours() -> float:
        out = next(outs)
        return cpu(lambda: write_bundles(out, build_bundles(loaded, hosts=hosts)))

    measured = alternate("build and write bundles in process", ours, naive, 3)
    print(f"\nwhat a user would write (scale {scale}, {len(placements)} placements): "
          f"{measured.line()} (floor: one Jinja2 environment, every placement rendered)")
    assert measured.figure > 0


def _stats(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (os.stat(p).st_ino, os.stat(p).st_mtime_ns) for p in root.rglob("*")}


def test_an_unchanged_recompile_rewrites_nothing(benchmark, inventory, tmp_path):
    out = tmp_path / "bundles"
    bundles = compile_inventory(inventory, revision=None).bundles
    write_bundles(out, bundles)
    before = _stats(out)
    result = benchmark.pedantic(write_bundles, args=(out, bundles), rounds=1, iterations=1)
    assert not result.changed
    assert _stats(out) == before


def _peak_script() -> str:
    return """
import resource, sys
from hznctl.cli.main import main
try:
    main(sys.argv[1:])
finally:
    try:
        with open("/proc/self/status") as status:
            kb = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
    except OSError:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stderr.write("PEAK_KB=%d\\n" % kb)
"""


def test_compile_peak_memory(inventory, tmp_path, scale):
    # VmHWM of the compile process itself (ru_maxrss would count the forking test process).
    out = subprocess.run([sys.executable, "-c", _peak_script(), "compile", "-j", "1",
                          "--out", str(tmp_path / "out"), str(inventory)],
                         capture_output=True, text=True, timeout=3600)
    line = [x for x in out.stderr.splitlines() if x.startswith("PEAK_KB=")]
    assert line, out.stderr[-2000:]
    peak_mb = int(line[-1].split("=")[1]) / 1024
    print(f"\npeak RSS of compile -j 1: {peak_mb:.0f} MB (scale {scale}; budget "
          f"{_peak_budget(scale):.0f} MB; goal at scale 2: <= {MAX_PEAK_MB_SCALE_2} MB)")
    if scale >= 0.25:
        assert peak_mb <= _peak_budget(scale)
    if scale >= 2:
        assert peak_mb <= MAX_PEAK_MB_SCALE_2
