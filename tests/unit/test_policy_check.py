"""Roles against changes, without git: coverage, author identities, messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from hznctl.errors import UsageError
from hznctl.models.policy import Policy
from hznctl.policy.changes import FieldChange, ObjectChange
from hznctl.policy.check import (
    author_from_environment,
    check_changes,
    field_matches,
    normalize_identity,
    roles_of,
)
from hznctl.yamlio import load_document
from tests.support import REPO


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.model_validate(load_document(REPO / "inventory" / "policy.yaml").data)


def _app_change(name: str, env: str, *paths: str) -> ObjectChange:
    fields = tuple(FieldChange(p, 1, 2, line=7, col=9) for p in paths)
    return ObjectChange("application", name, "change", f"inventory/applications/{name}.yaml",
                        7, 9, fields=fields, environments=(env,), applications=(name,))


def _messages(policy: Policy, change: ObjectChange, author: str,
              teams: tuple[str, ...] = ()) -> list[str]:
    _, violations = check_changes(policy, [change], author, teams)
    return [v.diagnostic().text() for v in violations]


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("workers[*].max_processes", "workers[payments].max_processes", True),
    ("workers[*].max_processes", "workers[payments].min_processes", False),
    ("workers", "workers[payments].env.FOO", True),
    ("workers[payments]", "workers[payments].queues", True),
    ("workers[payments]", "workers[payments-high].queues", False),
    ("active", "active", True),
    ("active", "activex", False),
    ("env.*", "env.APP_ENV", True),
])
def test_field_patterns(pattern: str, path: str, matches: bool) -> None:
    assert field_matches(pattern, path) is matches


def test_identities_are_normalized() -> None:
    assert normalize_identity("Bob@Example.com") == "bob@example.com"
    assert normalize_identity("octo-Cat") == "@octo-cat"
    assert normalize_identity("@octo") == "@octo"
    with pytest.raises(UsageError, match="neither a git author email nor a GitHub user"):
        normalize_identity("not an id")


def test_roles_come_from_members_teams_in_the_policy_and_teams_given(policy: Policy) -> None:
    assert roles_of(policy, "alice@example.com") == ("admin",)
    assert roles_of(policy, "@dana") == ("admin",)  # through teams: in policy.yaml
    assert roles_of(policy, "@erin") == ()
    assert roles_of(policy, "@erin", ("@acme/queue-operators",)) == ("operator",)


def test_author_from_the_workflow_environment(tmp_path: Path) -> None:
    assert author_from_environment({"GITHUB_ACTOR": "Bob"}, tmp_path) == "@bob"
    with pytest.raises(UsageError, match="pass --author"):
        author_from_environment({}, tmp_path)  # not a git repository: nobody to ask


def test_operator_may_tune_workers_of_named_production_apps_only(policy: Policy) -> None:
    assert _messages(policy, _app_change("mailer", "production",
                                         "workers[default].max_processes"), "@bob") == []
    assert _messages(policy, _app_change("mailer", "production", "runtime"), "@bob") == [
        "inventory/applications/mailer.yaml:7:9: runtime: @bob (role operator) may not change "
        "applications in environment production; allowed for: admin (operator may add/change/"
        "remove applications, connections, hosts, secrets, notifications in staging; operator "
        "may change applications mailer, reports in production (fields active, "
        "workers[*].active, workers[*].min_processes, workers[*].max_processes, "
        "workers[*].queues))",
    ]
    assert len(_messages(policy, _app_change("billing", "production",
                                             "workers[default].max_processes"), "@bob")) == 1


def test_each_field_is_checked_on_its_own(policy: Policy) -> None:
    change = _app_change("reports", "production", "workers[exports].queues", "directory",
                         "workers[exports].nice")
    assert [m.split(": ")[1] for m in _messages(policy, change, "bob@example.com")] == [
        "directory", "workers[exports].nice"]


def test_viewer_and_nobody_may_change_nothing(policy: Policy) -> None:
    change = _app_change("storefront", "staging", "workers[web].max_processes")
    assert _messages(policy, change, "@bob") == []
    viewer = _messages(policy, change, "carol@example.com")
    assert viewer == ["inventory/applications/storefront.yaml:7:9: workers[web].max_processes: "
                      "carol@example.com (role viewer) may not change applications in "
                      "environment staging; allowed for: admin, operator"]
    assert "(no role) may not change" in _messages(policy, change, "@mallory")[0]


def test_policy_changes_need_admin(policy: Policy) -> None:
    change = ObjectChange("policy", "policy", "change", "inventory/policy.yaml", 3, 1,
                          fields=(FieldChange("members.@bob[0]", "operator", "admin", 30, 10),))
    assert _messages(policy, change, "@alice") == []
    assert _messages(policy, change, "@bob") == [
        "inventory/policy.yaml:30:10: members.@bob[0]: @bob (role operator) may not change "
        "policy; allowed for: admin"]


def test_rename_needs_add_and_remove_and_says_so(policy: Policy) -> None:
    staging = ObjectChange("connection", "redis-stage", "rename", "inventory/c.yaml", 2, 7,
                           old_name="redis-staging", environments=("staging",))
    production = ObjectChange("connection", "redis-primary", "rename", "inventory/c.yaml", 2,
                              7, old_name="redis-main", environments=("production",))
    assert _messages(policy, staging, "@bob") == []
    assert _messages(policy, production, "@bob") == [
        "inventory/c.yaml:2:7: @bob (role operator) may not rename connections in environment "
        "production (a rename removes one object and adds another); allowed for: admin "
        "(operator may add/change/remove applications, connections, hosts, secrets, "
        "notifications in staging)"]


def test_object_of_every_environment_is_outside_a_narrowed_permission(policy: Policy) -> None:
    channel = ObjectChange("notification", "oncall", "add", "inventory/n.yaml", 2, 7)
    assert "may not add notifications in every environment" in _messages(
        policy, channel, "@bob")[0]
    staging_channel = ObjectChange("notification", "oncall", "add", "inventory/n.yaml", 2, 7,
                                   environments=("staging",))
    assert _messages(policy, staging_channel, "@bob") == []
