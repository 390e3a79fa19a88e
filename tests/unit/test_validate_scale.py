"""What keeps validate linear and small at fleet scale, checked on the example inventory."""

from __future__ import annotations

from pathlib import Path

import yaml

from hznctl.validate import validate_inventory


def test_valid_files_keep_no_node_tree(example_inventory: Path) -> None:
    result = validate_inventory(example_inventory)
    assert result.diagnostics == []
    # A node per value (with its marks) cost more memory than the data: composed only
    # for a file that gets a diagnostic.
    assert all(doc._root is None for doc in result.inventory.documents.values())


def test_a_diagnostic_composes_its_file_again(example_inventory: Path) -> None:
    path = next((example_inventory / "applications").glob("*.yaml"))
    data = yaml.safe_load(path.read_text())
    data["workers"][0]["min_processes"] = data["workers"][0]["max_processes"] + 1
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    lines = path.read_text().splitlines()
    result = validate_inventory(example_inventory)
    [found] = [d for d in result.diagnostics if d.code == "worker-limits"]
    assert lines[found.line - 1][found.col - 1:].startswith(str(data["workers"][0]
                                                                ["min_processes"]))
    composed = [doc for doc in result.inventory.documents.values() if doc._root is not None]
    assert [doc.path for doc in composed] == [path]
