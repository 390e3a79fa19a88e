"""Loading an inventory folder: typed objects, defaults, and diagnostics placed on fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from hznctl.inventory import load_inventory
from hznctl.models.common import PATTERN_HELP
from hznctl.schema import schema_for, schema_kinds


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def inventory_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "project.yaml", "name: t\nenvironments: [production]\n"
          "defaults:\n  worker:\n    tries: 4\n  host:\n    supervisord:\n"
          "      log_dir: /logs\n")
    write(tmp_path, "connections/redis-a.yaml",
          "name: redis-a\nhost: redis-a.internal\nenvironment: production\n")
    write(tmp_path, "hosts/host-a.yaml", "name: host-a\nenvironment: production\n")
    write(tmp_path, "applications/shop.yaml",
          "name: Shop\nslug: shop\nruntime: rq\nenvironment: production\n"
          "directory: /srv/shop\nconnections:\n  - connection: redis-a\n    primary: true\n"
          "workers:\n  - name: default\n    queues: [default]\n    hosts: [host-a]\n"
          "  - name: slow\n    queues: [slow]\n    tries: 1\n    hosts: [host-a]\n")
    return Path(".")


def test_loads_typed_objects_with_defaults(inventory_dir: Path) -> None:
    result = load_inventory(inventory_dir)
    assert result.diagnostics == [] and result.ok
    inv = result.inventory
    assert sorted(inv.applications) == ["shop"]
    assert [w.tries for w in inv.applications["shop"].workers] == [4, 1]  # file wins
    assert inv.hosts["host-a"].supervisord.log_dir == "/logs"
    assert inv.hosts["host-a"].supervisord.state_dir == "/var/lib/hznctl"  # nested merge
    assert inv.document("application", "shop") is not None


def test_one_broken_file_does_not_hide_the_others(inventory_dir: Path) -> None:
    write(inventory_dir, "hosts/host-b.yaml", "name: host-b\nenvironment: [x]\nfoo: 1\n")
    write(inventory_dir, "connections/redis-b.yaml", "name: redis-b\n: :\n")
    result = load_inventory(inventory_dir)
    texts = [d.text() for d in result.diagnostics]
    assert "hosts/host-b.yaml:2:14: environment: Input should be a valid string" in texts[1]
    assert texts[2].startswith("hosts/host-b.yaml:3:1: foo: unknown field 'foo'")
    assert texts[0].startswith("connections/redis-b.yaml:")
    assert result.inventory.broken == {("host", "host-b"), ("connection", "redis-b")}
    assert "host-a" in result.inventory.hosts and "redis-a" in result.inventory.connections


def test_diagnostic_can_be_placed_at_another_field(inventory_dir: Path) -> None:
    inv = load_inventory(inventory_dir).inventory
    found = inv.diagnostic("application", "shop", ("app_module",), "needed", at=("runtime",))
    assert (found.file, found.line, found.col, found.path) == (
        "applications/shop.yaml", 3, 10, "app_module")


def test_hidden_and_stray_files(inventory_dir: Path) -> None:
    write(inventory_dir, "hosts/.host-c.yaml", "not: read\n")
    write(inventory_dir, "hosts/notes.txt", "hello\n")
    result = load_inventory(inventory_dir)
    assert [d.text() for d in result.diagnostics] == [
        "hosts/notes.txt:1:1: warning: not read: hosts/ holds only <name>.yaml files"]
    assert result.ok


def test_missing_folder(tmp_path: Path) -> None:
    result = load_inventory(tmp_path / "absent")
    assert not result.ok and result.diagnostics[0].code == "no-inventory"


def test_sensitive_values_are_not_quoted(inventory_dir: Path) -> None:
    write(inventory_dir, "connections/redis-a.yaml",
          "name: redis-a\nhost: redis-a.internal\nenvironment: production\n"
          "password: {sops: /etc/s3cr3t-value.yaml, key: k}\n")
    [found] = load_inventory(inventory_dir).diagnostics
    assert found.path == "password.sops" and "s3cr3t" not in found.text()


def test_every_pattern_has_a_help_text() -> None:
    # A pattern without help would show users "does not have the expected form".
    patterns: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pattern":
                    patterns.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for spec in schema_kinds():
        walk(schema_for(spec))
    assert patterns and patterns <= set(PATTERN_HELP)
