"""Property: whatever an edit does to the example inventory, validate never raises and every
diagnostic is placed (a file, a line and a column ≥ 1)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hznctl.validate import validate_inventory
from tests.support import EXAMPLE_INVENTORY

FILES = sorted(
    str(p.relative_to(EXAMPLE_INVENTORY))
    for p in EXAMPLE_INVENTORY.rglob("*.yaml") if p.parts[-2] != "secrets"
)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["yes", "on", "0755", "1e3", "~", "", "redis-main", "worker-eu-1",
                     "laravel-horizon", "auto", "production", "staging", "#zzzzzz", "\t"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "inventory"
        shutil.copytree(EXAMPLE_INVENTORY, root)
        yield root


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


def _mutate(data: Any, path: tuple[Any, ...], action: str, new: Any) -> Any:
    if not path:
        return new if action == "replace" else data
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "replace":
        parent[last] = new
    elif action == "delete":
        del parent[last]
    elif action == "duplicate" and isinstance(parent, list):
        parent.insert(last, parent[last])
    elif action == "duplicate":
        parent[f"{last}"] = parent[last]
    return data


@st.composite
def structural_edit(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(FILES))
    data = yaml.safe_load((EXAMPLE_INVENTORY / name).read_text())
    path = draw(st.sampled_from(_paths(data)))
    action = draw(st.sampled_from(["replace", "delete", "duplicate"]))
    data = _mutate(data, path, action, draw(values))
    return name, yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@st.composite
def text_edit(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(FILES))
    lines = (EXAMPLE_INVENTORY / name).read_text().splitlines(keepends=True)
    index = draw(st.integers(0, len(lines) - 1))
    action = draw(st.sampled_from(["delete", "duplicate", "insert", "truncate"]))
    if action == "delete":
        del lines[index]
    elif action == "duplicate":
        lines.insert(index, lines[index])  # a duplicated key or list item
    elif action == "insert":
        cut = draw(st.integers(0, len(lines[index])))
        noise = draw(st.text(max_size=6) | st.sampled_from(["\t", ": ", "&a ", "*a", "- ",
                                                           "!!python/object ", "{", "'"]))
        lines[index] = lines[index][:cut] + noise + lines[index][cut:]
    else:
        lines = lines[:index]
    return name, "".join(lines)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edit=st.one_of(structural_edit(), text_edit()))
def test_validate_never_raises_and_places_every_diagnostic(workdir: Path, edit) -> None:
    name, text = edit
    target = workdir / name
    try:
        target.write_text(text, encoding="utf-8", errors="surrogatepass")
    except UnicodeEncodeError:
        target.write_bytes(text.encode("utf-8", errors="replace"))
    try:
        result = validate_inventory(workdir)
    finally:
        shutil.copyfile(EXAMPLE_INVENTORY / name, target)
    for found in result.diagnostics:
        assert found.file and found.line >= 1 and found.col >= 1, found
        assert found.message
    assert all(isinstance(d.text(), str) for d in result.diagnostics)
