"""Helpers for the compile and plan tests: compile to a folder, read programs with supervisor."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "golden"


def compile_to(inventory: Path, out: Path, *, hosts: tuple[str, ...] = ()) -> Any:
    """Compile like the CLI does, without a git revision (stable golden manifests)."""
    from hznctl.bundle.writer import write_bundles
    from hznctl.pipeline import compile_inventory

    result = compile_inventory(inventory, hosts=hosts, revision=None)
    assert result.ok, [d.text() for d in result.diagnostics]
    write_bundles(out, result.bundles, prune=not hosts)
    return result


def bundle_of(host: str, files: dict[str, bytes]) -> Any:
    """A host bundle of just ``files`` (no program group), its manifest listing them."""
    import hashlib

    from hznctl.bundle.manifest import HostBundle, Manifest, SupervisordRef

    manifest = Manifest(
        generator="tests", host=host, environment="test", revision=None,
        supervisord=SupervisordRef(url="unix:///tmp/s.sock", include_dir="/etc/s",
                                   state_dir="/var/lib/h", log_dir="/var/log/h"),
        groups={}, files={p: hashlib.sha256(d).hexdigest() for p, d in sorted(files.items())})
    return HostBundle(host, manifest, files)


def tree_shape(out: Path) -> dict[str, object]:
    """Everything a reader of ``out`` sees: every file's bytes, every mode, and which
    paths are one file (hard links)."""
    import stat

    by_inode: dict[int, list[str]] = {}
    modes = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        modes[rel] = stat.S_IMODE(path.lstat().st_mode)
        if path.is_file():
            by_inode.setdefault(path.stat().st_ino, []).append(rel)
    return {"files": tree(out), "modes": modes, "shared": sorted(by_inode.values())}


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def without_secrets(files: dict[str, bytes]) -> dict[str, bytes]:
    """A tree without its clusters' encrypted Secrets (sops output differs on every run;
    a recompile into the same folder keeps them, see tests/integration/test_kubernetes_tree)."""
    clusters = {rel.split("/", 1)[0] for rel in files if rel.endswith("/kustomization.yaml")}
    return {rel: data for rel, data in files.items()
            if not (rel.split("/", 1)[0] in clusters and "/secrets/" in rel)}


def stats(root: Path, *, files_only: bool = False) -> dict[str, tuple[int, int]]:
    """Inode and mtime of everything under ``root`` (and of ``root`` itself)."""
    paths = [root, *sorted(root.rglob("*"))]
    return {p.relative_to(root).as_posix(): (os.stat(p).st_ino, os.stat(p).st_mtime_ns)
            for p in paths if p.is_file() or not files_only}


def read_program(path: Path) -> tuple[list[str], Any]:
    """Sections of a program file as supervisor reads them, and the parser."""
    from supervisor.options import UnhosedConfigParser

    parser = UnhosedConfigParser()
    parser.read(str(path))
    return parser.sections(), parser


def supervisor_processes(parser: Any, section: str) -> list[Any]:
    """supervisor's own process configs for a section (user and log files are left out:
    they need a passwd entry and an existing folder on this machine)."""
    from supervisor.options import ServerOptions

    for option in ("user", "stdout_logfile", "stderr_logfile"):
        parser.remove_option(section, option)
    group = section.split(":", 1)[1]
    return list(ServerOptions().processes_from_section(parser, section, group))


def worker_argv(config: Any) -> list[str]:
    argv = shlex.split(config.command)
    return argv[argv.index("--") + 1:]


def list_without_inode_numbers(monkeypatch: Any) -> None:
    """From here on, the bundle writer's folder listings give every entry one made-up
    inode number, as some file systems do."""
    import hznctl.bundle.writer as writer_module

    real_scandir = os.scandir

    class Entry:
        def __init__(self, entry: Any) -> None:
            self._entry = entry

        def __getattr__(self, name: str) -> Any:
            return getattr(self._entry, name)

        def inode(self) -> int:
            return 0xFFFFFFFF

    class Listing:
        def __init__(self, path: Any) -> None:
            self._listing = real_scandir(path)

        def __enter__(self) -> Any:
            return (Entry(e) for e in self._listing.__enter__())

        def __exit__(self, *exc: Any) -> Any:
            return self._listing.__exit__(*exc)

    monkeypatch.setattr(writer_module.os, "scandir", Listing)


def recording_forks(monkeypatch: Any) -> list[int]:
    """Every compile worker forked from here on, with nothing too small to fork for: the
    list gets each worker's pid."""
    from hznctl.compile import parallel

    monkeypatch.setattr(parallel, "MIN_PROGRAMS", 0)
    pids: list[int] = []
    fork = os.fork

    def recording_fork() -> int:
        pid = fork()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(parallel.os, "fork", recording_fork)
    return pids
