"""policy.yaml: read and validated like every inventory file, with a JSON Schema and rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hznctl.policy.kind import POLICY_KIND
from hznctl.schema import render_schema
from hznctl.validate import validate_inventory
from tests.support import REPO


def _write_policy(inventory: Path, text: str) -> None:
    (inventory / "policy.yaml").write_text(text)


def _texts(inventory: Path) -> list[str]:
    return [d.text() for d in validate_inventory(inventory).diagnostics]


def test_example_inventory_with_its_policy_is_valid() -> None:
    result = validate_inventory(REPO / "inventory")
    assert result.ok(strict=True), [d.text() for d in result.diagnostics]
    assert ("policy", "policy") in result.inventory.documents
    policy = result.inventory.objects("policy")["policy"]
    assert set(policy.roles) >= {"admin", "operator", "viewer"}


def test_validate_command_reads_the_policy_in_a_fresh_process(example_inventory: Path) -> None:
    # The kind must be registered before the first load, not only after the rules ran once.
    _write_policy(example_inventory, "roles: {admin: {}}\nmembers: {bob: [admin]}\n")
    result = subprocess.run([sys.executable, "-m", "hznctl", "validate", str(example_inventory)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "policy.yaml:2:11: members.bob: 'bob': must be a git author email" in result.stdout


def test_committed_policy_schema_is_current_and_accepts_the_example() -> None:
    committed = (REPO / "schemas" / "policy.schema.json").read_text()
    assert committed == render_schema(POLICY_KIND)
    check = subprocess.run(
        [str(Path(sys.executable).parent / "check-jsonschema"), "--schemafile",
         str(REPO / "schemas" / "policy.schema.json"), str(REPO / "inventory" / "policy.yaml")],
        capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    schema = json.loads(committed)
    assert schema["title"] == "hznctl policy (policy.yaml)"


@pytest.mark.parametrize(("policy", "expected"), [
    ("roles: {admin: {}}\nmembers: {'@bob': [ops]}\n",
     "policy.yaml:2:20: members.@bob[0]: unknown role 'ops' (known roles: admin)"),
    ("roles: {operator: {}}\n",
     "policy.yaml:1:8: roles: there is no admin role; it alone may change the policy"),
    ("roles:\n  admin: {}\n  operator:\n    permissions:\n      - kinds: ['*']\n",
     "policy.yaml:5:16: roles.operator.permissions[0].kinds: only the admin role may change "
     "the policy ('*' covers the policy)"),
    ("roles:\n  admin: {}\n  ops:\n    permissions:\n      - kinds: [applications]\n"
     "        fields: [workers]\n",
     "policy.yaml:6:17: roles.ops.permissions[0].fields: fields narrow only the change "
     "action; adding or removing an object has no fields (set actions: [change])"),
    ("roles:\n  admin: {}\n  ops:\n    permissions:\n      - kinds: [hosts]\n"
     "        applications: [billing]\n",
     "policy.yaml:6:23: roles.ops.permissions[0].applications: applications narrow only the "
     "kind applications"),
    ("roles:\n  admin: {}\n  ops:\n    permissions:\n      - kinds: [hosts]\n"
     "        environments: [stagin]\n",
     "policy.yaml:6:24: roles.ops.permissions[0].environments[0]: unknown environment "
     "'stagin' (did you mean 'staging'?)"),
    ("roles:\n  admin: {}\n  ops:\n    permissions:\n      - kinds: [hostz]\n",
     "policy.yaml:5:17: roles.ops.permissions[0].kinds[0]: Input should be '*', "
     "'applications', 'connections', 'hosts', 'secrets', 'notifications', 'policy' or "
     "'project', got 'hostz'"),
    ("roles: {admin: {}}\nteams: {'@acme/ops': ['@acme/other']}\n",
     "policy.yaml:2:23: teams.@acme/ops[0]: '@acme/other': must be a git author email "
     "(alice@example.com) or a GitHub user (@alice)"),
])
def test_policy_mistakes_are_placed(example_inventory: Path, policy: str, expected: str) -> None:
    _write_policy(example_inventory, policy)
    found = [t.split("policy.yaml", 1)[1] for t in _texts(example_inventory)
             if "policy.yaml" in t]
    assert any(expected.split("policy.yaml", 1)[1] in line for line in found), found


def test_unknown_application_in_a_permission_is_a_warning(example_inventory: Path) -> None:
    _write_policy(example_inventory, "roles:\n  admin: {}\n  ops:\n    permissions:\n"
                  "      - kinds: [applications]\n        applications: [biling]\n")
    result = validate_inventory(example_inventory)
    assert result.ok() and not result.ok(strict=True)
    assert [d.message for d in result.warnings] == ["unknown application 'biling'"]
