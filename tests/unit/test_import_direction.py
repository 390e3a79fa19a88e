"""Imports between hznctl's packages go one way: from the commands down to the core.

Each top-level package or module of ``hznctl`` has a layer; it may import only from lower
layers, never from its own or a higher one, so no two packages import each other, however
indirectly. A new package gets a layer here (the test fails until it has one). Read from
the source, function-level and type-only imports included, so nothing has to be run.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import hznctl

PACKAGE = Path(hznctl.__file__).parent

# Lowest first; docs/architecture.md explains the layers.
LAYERS: list[set[str]] = [
    {"__init__", "errors"},
    {"atomic", "yamlio", "diagnostics", "gitrev"},
    {"models", "argv"},
    {"execspec", "inventory"},
    {"placement", "runtimes", "bundle"},
    {"secrets"},
    {"compile"},        # the compiler core: programs as typed values
    {"targets"},        # output formats: supervisord (INI), …
    {"plan"},           # comparing manifests, and showing plans
    {"deploy"},
    {"policy"},
    {"rules"},
    {"validate"},
    {"pipeline"},       # validate, then build; plan --base
    {"schema", "health", "demo_services"},
    {"scaffold"},
    {"importer"},       # hznctl import: supervisord files and Horizon config in
    {"demo"},
    {"cli"},
    {"__main__"},
]
LAYER = {name: index for index, names in enumerate(LAYERS) for name in names}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


@functools.cache
def _edges() -> set[tuple[str, str, str]]:
    """(importing package, imported package, importing module) across packages."""
    found = set()
    for module, path in _modules():
        source = _unit(module) if module != "hznctl" else "__init__"
        for name in _imports(path):
            if name.startswith("hznctl."):
                target = _unit(name)
                if target != source and target in _units():
                    found.add((source, target, module))
    return found


@functools.cache
def _units() -> set[str]:
    return {_unit(m) if m != "hznctl" else "__init__" for m, _ in _modules()}


def test_every_package_has_a_layer():
    assert sorted(_units() - set(LAYER)) == []


def test_imports_go_down_the_layers():
    upward = sorted(f"{module} imports hznctl.{target} ({source} may not import it)"
                    for source, target, module in _edges()
                    if LAYER[target] >= LAYER[source])
    assert upward == []


def test_the_layers_leave_no_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for source, target, _ in _edges():
        graph.setdefault(source, set()).add(target)
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, " -> ".join((*path, node))
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, (*path, node))
        done.add(node)

    for node in sorted(graph):
        visit(node, ())


def test_the_compiler_core_knows_no_target_syntax_and_no_validation():
    """compile/ builds typed programs: no INI gate, templates, supervisor or validate."""
    forbidden = ("hznctl.targets", "hznctl.validate", "hznctl.rules", "hznctl.pipeline",
                 "jinja2", "supervisor")
    found = sorted(f"{module}: {name}" for module, path in _modules()
                   if module.startswith("hznctl.compile")
                   for name in _imports(path) if name.startswith(forbidden))
    assert found == []


def test_plan_and_deploy_read_bundles_through_the_manifest_only():
    """The bundle format is ``bundle.manifest``; the tree writer is compile's business."""
    found = sorted(f"{module}: {name}" for module, path in _modules()
                   if module.startswith(("hznctl.plan", "hznctl.deploy"))
                   for name in _imports(path)
                   if name.startswith("hznctl.bundle") and not name.startswith(
                       ("hznctl.bundle.manifest", "hznctl.bundle.jsonout")))
    assert found == []
