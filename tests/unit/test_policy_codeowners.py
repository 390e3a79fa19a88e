""".github/CODEOWNERS is generated from the policy, and the committed one is never stale."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from hznctl.policy.codeowners import codeowners
from tests.support import REPO


def test_committed_codeowners_is_current() -> None:
    result = codeowners(REPO / "inventory", REPO / ".github" / "CODEOWNERS", check=True)
    assert not result.stale, "run `hznctl codeowners` and commit .github/CODEOWNERS"


def test_owners_follow_roles_environments_and_applications(tmp_path: Path) -> None:
    root = tmp_path / "inventory"
    shutil.copytree(REPO / "inventory", root)
    text = codeowners(root, tmp_path / "CODEOWNERS", check=True).text
    admins = "@acme/platform @alice alice@example.com"
    both = "@acme/platform @acme/queue-operators @alice @bob alice@example.com bob@example.com"
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    # Outside a git repository the folder is placed relative to the working directory.
    prefix = lines[1].split(" ")[0].removesuffix("/")
    assert [line.replace(prefix, "/inv") for line in lines] == [
        f"* {admins}",
        f"/inv/ {admins}",
        f"/inv/applications/ {admins}",
        f"/inv/connections/ {admins}",
        f"/inv/hosts/ {admins}",
        f"/inv/notifications/ {admins}",
        f"/inv/secrets/ {admins}",
        f"/inv/applications/mailer.yaml {both}",
        f"/inv/applications/reports.yaml {both}",
        f"/inv/applications/storefront.yaml {both}",
        f"/inv/connections/redis-staging.yaml {both}",
        f"/inv/hosts/worker-staging-1.yaml {both}",
        f"/inv/secrets/redis-staging.yaml {both}",
        f"/inv/templates/ {admins}",
        f"/inv/project.yaml {admins}",
        f"/inv/policy.yaml {admins}",
        f"/.github/ {admins}",
        f"/action.yml {admins}",
        f"/action.yaml {admins}",
        f"/.github/CODEOWNERS {admins}",
    ]


def test_check_fails_when_stale_and_writing_is_idempotent(
    tmp_path: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch,
) -> None:
    shutil.copytree(REPO / "inventory", tmp_path / "inventory")
    monkeypatch.chdir(tmp_path)
    missing = cli("codeowners", "--check")
    assert missing.exit_code == 1
    assert "out of date with the policy" in missing.output
    assert cli("codeowners").exit_code == 0
    written = (tmp_path / ".github" / "CODEOWNERS").read_bytes()
    again = cli("codeowners")
    assert again.exit_code == 0 and "is up to date" in again.output
    assert (tmp_path / ".github" / "CODEOWNERS").read_bytes() == written
    policy = tmp_path / "inventory" / "policy.yaml"
    policy.write_text(policy.read_text().replace('"@carol": [viewer]', '"@carol": [operator]'))
    stale = cli("codeowners", "--check")
    assert stale.exit_code == 1
    assert cli("codeowners").exit_code == 0
    assert "@carol" in (tmp_path / ".github" / "CODEOWNERS").read_text()


def test_no_policy_is_an_error(tmp_path: Path, cli: Callable[..., Result],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(REPO / "inventory", tmp_path / "inventory")
    (tmp_path / "inventory" / "policy.yaml").unlink()
    monkeypatch.chdir(tmp_path)
    result = cli("codeowners")
    assert result.exit_code == 1
    assert "inventory/policy.yaml does not exist" in result.output
