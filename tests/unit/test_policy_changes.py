"""The semantic change set between two inventory folders: objects, fields, renames, secrets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hznctl.policy.changes import MISSING, compare, diff_fields, read_snapshot, show


@pytest.fixture
def pair(example_inventory: Path, tmp_path: Path) -> tuple[Path, Path]:
    new = tmp_path / "new" / "inventory"
    shutil.copytree(example_inventory, new)
    return example_inventory, new


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _changes(pair: tuple[Path, Path]) -> list[str]:
    old, new = pair
    out = []
    for change in compare(read_snapshot(old, "inventory"), read_snapshot(new, "inventory")):
        out.append(f"{change.file}:{change.line}:{change.col} {change.text()} "
                   f"{list(change.environments)}")
        out.extend(f"  {f.line}:{f.col} {f.text()}" for f in change.fields)
    return out


def test_identical_inventories_have_no_changes(pair: tuple[Path, Path]) -> None:
    assert _changes(pair) == []


def test_comments_and_key_order_are_not_changes(pair: tuple[Path, Path]) -> None:
    _, new = pair
    path = new / "connections" / "redis-jobs.yaml"
    text = path.read_text().replace("port: 6380\n", "").replace("database: 1\n", "")
    path.write_text("# a new comment\ndatabase: 1\n" + text + "port:    6380  # moved\n")
    assert _changes(pair) == []


def test_worker_groups_are_named_not_numbered(pair: tuple[Path, Path]) -> None:
    _, new = pair
    billing = new / "applications" / "billing.yaml"
    _edit(billing, "max_processes: 4", "max_processes: 6")
    _edit(billing, "    tries: 5\n", "")
    _edit(billing, "priority: 10", "priority: 5")
    assert _changes(pair) == [
        "inventory/applications/billing.yaml:18:15 changed application billing ['production']",
        "  18:15 connections[redis-main].priority: 10 → 5",
        "  31:20 workers[payments].max_processes: 4 → 6",
        "  27:5 workers[payments].tries (removed, was 5)",
    ]


def test_reordered_worker_groups_change_nothing_added_group_is_one_field(
    pair: tuple[Path, Path],
) -> None:
    _, new = pair
    billing = new / "applications" / "billing.yaml"
    text = billing.read_text()
    head, workers = text.split("workers:\n")
    default, payments = workers.split("  - name: payments\n")
    billing.write_text(head + "workers:\n  - name: payments\n" + payments + default
                       + "  - name: refunds\n    queues: [refunds]\n")
    assert _changes(pair) == [
        "inventory/applications/billing.yaml:38:5 changed application billing ['production']",
        "  38:5 workers[refunds] = {\"name\": \"refunds\", \"queues\": [\"refunds\"]} (added)",
    ]


def test_rename_is_detected_by_content(pair: tuple[Path, Path]) -> None:
    _, new = pair
    old_file = new / "connections" / "redis-staging.yaml"
    renamed = new / "connections" / "redis-stage.yaml"
    renamed.write_text(old_file.read_text().replace("name: redis-staging", "name: redis-stage"))
    old_file.unlink()
    assert _changes(pair) == [
        "inventory/connections/redis-stage.yaml:2:7 renamed connection redis-staging → "
        "redis-stage ['staging']",
    ]


def test_removed_and_added_objects(pair: tuple[Path, Path]) -> None:
    _, new = pair
    (new / "hosts" / "worker-eu-2.yaml").unlink()
    shutil.copy(new / "hosts" / "worker-staging-1.yaml", new / "hosts" / "worker-staging-2.yaml")
    _edit(new / "hosts" / "worker-staging-2.yaml", "name: worker-staging-1",
          "name: worker-staging-2")
    assert _changes(pair) == [
        "inventory/hosts/worker-eu-2.yaml:2:7 removed host worker-eu-2 ['production']",
        "inventory/hosts/worker-staging-2.yaml:2:7 added host worker-staging-2 ['staging']",
    ]


def test_moving_an_object_between_environments_involves_both(pair: tuple[Path, Path]) -> None:
    _, new = pair
    _edit(new / "applications" / "storefront.yaml", "environment: staging",
          "environment: production")
    assert _changes(pair)[0].endswith("changed application storefront ['production', 'staging']")


def test_secret_file_change_belongs_to_its_connection(pair: tuple[Path, Path]) -> None:
    old, new = pair
    # Another SOPS file in place of redis-main's: a new password and other recipients.
    shutil.copy(old / "secrets" / "redis-jobs.yaml", new / "secrets" / "redis-main.yaml")
    lines = _changes(pair)
    assert lines[0] == ("inventory/secrets/redis-main.yaml:1:11 changed secret file "
                        "secrets/redis-main.yaml (of connection redis-main) ['production']")
    assert lines[1] == "  1:11 password: (encrypted) → (encrypted)"
    assert lines[2].startswith("  3:5 recipients: [")
    assert "ENC[" not in "".join(lines)


def test_broken_file_is_a_whole_file_change(pair: tuple[Path, Path]) -> None:
    _, new = pair
    _edit(new / "connections" / "redis-main.yaml", "port: 6379", "port: [6379")
    assert _changes(pair) == [
        "inventory/connections/redis-main.yaml:1:1 changed connection redis-main []",
        "  1:1 the file changed (it cannot be compared field by field)",
    ]


def test_literal_secret_in_a_change_is_never_shown(pair: tuple[Path, Path]) -> None:
    _, new = pair
    path = new / "connections" / "redis-staging.yaml"
    text = path.read_text()
    start = text.index("password:")
    end = text.index("environment:")
    path.write_text(text[:start] + "password: hunter2-plaintext\n" + text[end:])
    joined = "\n".join(_changes(pair))
    assert "hunter2" not in joined
    assert "password: {\"key\": \"password\", \"sops\": \"secrets/redis-staging.yaml\"} → " \
        "(hidden)" in joined


def test_field_diff_is_type_strict_and_shows_values_on_one_line() -> None:
    fields = diff_fields({"a": 1, "b": "x", "c": [1]}, {"a": 1.0, "b": "x", "c": [1]}, None)
    assert [(f.path, f.old, f.new) for f in fields] == [("a", 1, 1.0)]
    assert show(MISSING) == "(unset)"
    assert show("two\nlines") == '"two\\nlines"'
    assert show("x" * 100).endswith("...")
