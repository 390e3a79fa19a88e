"""`hznctl policy check` and `hznctl log` on real git repositories with several authors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import Result

from tests.support import EXAMPLE_INVENTORY, make_age_key, sops_encrypt

ALICE = ("Alice Admin", "alice@example.com")  # admin
BOB = ("Bob Operator", "bob@example.com")  # operator: staging, and workers of mailer/reports
CAROL = ("Carol Viewer", "carol@example.com")  # viewer
MALLORY = ("Mallory", "mallory@example.com")  # no role
Run = Callable[..., Result]


class Repo:
    """A git repository in a temporary folder; commits with fixed dates, by given authors."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = 0
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, date: str = "2026-01-05T09:00:00+00:00") -> str:
        env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date,
               "GIT_COMMITTER_NAME": "CI", "GIT_COMMITTER_EMAIL": "ci@example.com"}
        result = subprocess.run(["git", *args], cwd=self.path, env=env, capture_output=True,
                                text=True, check=True)
        return result.stdout.strip()

    def commit(self, who: tuple[str, str], message: str, date: str | None = None) -> str:
        self.clock += 1
        when = date or f"2026-01-05T{9 + self.clock:02d}:00:00+00:00"
        self.git("add", "-A")
        self.git("-c", f"user.name={who[0]}", "-c", f"user.email={who[1]}", "commit", "-q",
                 "--no-gpg-sign", "-m", message, date=when)
        return self.git("rev-parse", "HEAD")

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.path / relative
        text = path.read_text()
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1))


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """The example inventory committed by the admin on main; a branch for the change."""
    repo = Repo(tmp_path / "repo")
    shutil.copytree(EXAMPLE_INVENTORY, repo.path / "inventory")
    repo.commit(ALICE, "Add the inventory")
    repo.git("checkout", "-q", "-b", "change")
    monkeypatch.chdir(repo.path)
    monkeypatch.delenv("GITHUB_ACTOR", raising=False)
    return repo


def check(cli: Run, author: tuple[str, str] | str, *extra: str) -> Result:
    who = author if isinstance(author, str) else author[1]
    return cli("policy", "check", "--base", "main", "--author", who, *extra)


def violations(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("inventory/")]


def test_operator_touching_a_production_connection_is_told_exactly_why(
    repo: Repo, cli: Run,
) -> None:
    repo.edit("inventory/connections/redis-main.yaml", "port: 6379", "port: 6380")
    repo.commit(BOB, "Move redis-main")
    result = check(cli, BOB)
    assert result.exit_code == 1
    assert violations(result) == [
        "inventory/connections/redis-main.yaml:5:7: port: bob@example.com (role operator) may "
        "not change connections in environment production; allowed for: admin (operator may "
        "add/change/remove applications, connections, hosts, secrets, notifications in "
        "staging)"]
    assert "denied: 1 violation(s) in 1 change(s) by bob@example.com (role operator) since " \
        "main" in result.output
    assert check(cli, ALICE).exit_code == 0


def test_operator_owns_staging(repo: Repo, cli: Run) -> None:
    repo.edit("inventory/connections/redis-staging.yaml", "region: eu-west-1",
              "region: eu-west-2")
    repo.edit("inventory/applications/storefront.yaml", "max_processes: 2", "max_processes: 3")
    (repo.path / "inventory/hosts/worker-staging-1.yaml").unlink()
    repo.edit("inventory/applications/storefront.yaml", "hosts: [worker-staging-1]",
              "host_labels: {role: queue}")
    result = check(cli, BOB)
    assert result.exit_code == 0, result.output
    assert "allowed: 3 change(s) by bob@example.com (role operator)" in result.output


def test_operator_tunes_named_production_apps_but_nothing_else(repo: Repo, cli: Run) -> None:
    repo.edit("inventory/applications/mailer.yaml", "max_processes: 3", "max_processes: 5")
    assert check(cli, BOB).exit_code == 0
    repo.edit("inventory/applications/mailer.yaml", "retry_after: 180", "retry_after: 90")
    repo.edit("inventory/applications/billing.yaml", "max_processes: 4", "max_processes: 6")
    result = check(cli, BOB)
    assert result.exit_code == 1
    assert [v.split(" may not")[0] for v in violations(result)] == [
        "inventory/applications/billing.yaml:31:20: workers[payments].max_processes: "
        "bob@example.com (role operator)",
        "inventory/applications/mailer.yaml:11:14: retry_after: bob@example.com (role operator)",
    ]


def test_viewer_and_author_without_role_may_change_nothing(repo: Repo, cli: Run) -> None:
    repo.edit("inventory/applications/storefront.yaml", "max_processes: 2", "max_processes: 3")
    viewer = check(cli, CAROL)
    assert viewer.exit_code == 1
    assert violations(viewer) == [
        "inventory/applications/storefront.yaml:17:20: workers[default].max_processes: "
        "carol@example.com (role viewer) may not change applications in environment staging; "
        "allowed for: admin, operator"]
    nobody = check(cli, MALLORY)
    assert nobody.exit_code == 1
    assert "mallory@example.com (no role) may not change applications in environment " \
        "staging; allowed for: admin, operator" in nobody.output


def test_moving_an_application_to_production_needs_both_environments(
    repo: Repo, cli: Run,
) -> None:
    repo.edit("inventory/applications/storefront.yaml", "environment: staging",
              "environment: production")
    result = check(cli, BOB)
    assert result.exit_code == 1
    assert "environment: bob@example.com (role operator) may not change applications in " \
        "environments production, staging; allowed for: admin" in result.output


def test_renames(repo: Repo, cli: Run) -> None:
    staging = repo.path / "inventory/connections/redis-staging.yaml"
    staging.rename(staging.with_name("redis-stage.yaml"))
    repo.edit("inventory/connections/redis-stage.yaml", "name: redis-staging",
              "name: redis-stage")
    repo.edit("inventory/applications/storefront.yaml", "connection: redis-staging",
              "connection: redis-stage")
    result = check(cli, BOB, "--format", "json")
    assert result.exit_code == 0, result.output
    changes = json.loads(result.output)["changes"]
    assert [(c["action"], c["old_name"], c["name"]) for c in changes] == [
        ("change", None, "storefront"), ("rename", "redis-staging", "redis-stage")]
    production = repo.path / "inventory/hosts/worker-eu-2.yaml"
    production.rename(production.with_name("worker-eu-3.yaml"))
    repo.edit("inventory/hosts/worker-eu-3.yaml", "name: worker-eu-2", "name: worker-eu-3")
    denied = check(cli, BOB)
    assert denied.exit_code == 1
    assert violations(denied) == [
        "inventory/hosts/worker-eu-3.yaml:2:7: bob@example.com (role operator) may not rename "
        "hosts in environment production (a rename removes one object and adds another); "
        "allowed for: admin (operator may add/change/remove applications, connections, hosts, "
        "secrets, notifications in staging)"]


def test_deletions(repo: Repo, cli: Run) -> None:
    (repo.path / "inventory/hosts/worker-batch-1.yaml").unlink()
    repo.commit(BOB, "Retire worker-batch-1")
    result = check(cli, BOB)
    assert result.exit_code == 1
    assert violations(result)[0].startswith(
        "inventory/hosts/worker-batch-1.yaml:2:7: bob@example.com (role operator) may not "
        "remove hosts in environment production; allowed for: admin")
    assert check(cli, ALICE).exit_code == 0


def test_policy_edits_need_admin_and_use_the_base_policy(repo: Repo, cli: Run) -> None:
    # Bob makes himself admin in his own pull request: the base policy still applies.
    repo.edit("inventory/policy.yaml", '"@bob": [operator]', '"@bob": [admin]')
    repo.commit(BOB, "Promote myself")
    result = check(cli, "@bob")
    assert result.exit_code == 1
    assert violations(result) == [
        "inventory/policy.yaml:34:11: members.@bob: @bob (role operator) may not change "
        "policy; allowed for: admin"]
    assert check(cli, "@alice").exit_code == 0
    (repo.path / "inventory/policy.yaml").unlink()
    removed = check(cli, "@bob")
    assert "may not remove policy; allowed for: admin" in removed.output


def test_rotated_production_password_is_a_secrets_change(repo: Repo, cli: Run,
                                                         tmp_path: Path) -> None:
    def rotate(name: str) -> None:
        secret = repo.path / f"inventory/secrets/{name}.yaml"
        recipients = [r["recipient"] for r in yaml.safe_load(secret.read_text())["sops"]["age"]]
        sops_encrypt({"password": "rotated-password-value"}, recipients, secret)

    rotate("redis-staging")
    assert check(cli, BOB).exit_code == 0
    rotate("redis-main")
    result = check(cli, BOB, "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert [(v["file"], v["path"], v["object"]) for v in report["violations"]] == [
        ("inventory/secrets/redis-main.yaml", "password",
         "secret file secrets/redis-main.yaml (of connection redis-main)")]
    assert report["violations"][0]["message"] == (
        "bob@example.com (role operator) may not change secrets of connection redis-main in "
        "environment production; allowed for: admin")
    assert "rotated-password-value" not in result.output
    assert "ENC[" not in result.output


def test_broken_file_is_still_checked(repo: Repo, cli: Run) -> None:
    repo.edit("inventory/connections/redis-jobs.yaml", "port: 6380", "port: [6380")
    result = check(cli, BOB)
    assert result.exit_code == 1
    assert violations(result) == [
        "inventory/connections/redis-jobs.yaml:1:1: (file): bob@example.com (role operator) "
        "may not change connections in every environment; allowed for: admin (operator may "
        "add/change/remove applications, connections, hosts, secrets, notifications in "
        "staging)"]


def test_author_from_workflow_environment_and_head(repo: Repo, cli: Run) -> None:
    repo.edit("inventory/applications/billing.yaml", "max_processes: 8", "max_processes: 9")
    repo.commit(CAROL, "Scale billing")
    by_head = cli("policy", "check", "--base", "main")
    assert "carol@example.com (role viewer) may not change" in by_head.output
    by_actor = cli("policy", "check", "--base", "main", env={"GITHUB_ACTOR": "alice"})
    assert by_actor.exit_code == 0
    assert "by @alice (role admin)" in by_actor.output
    team = cli("policy", "check", "--base", "main", "--author", "@erin", "--team",
               "@acme/platform")
    assert team.exit_code == 0


def test_github_annotations(repo: Repo, cli: Run) -> None:
    repo.edit("inventory/connections/redis-main.yaml", "port: 6379", "port: 6380")
    result = check(cli, BOB, "--format", "github")
    assert result.exit_code == 1
    assert result.output.startswith(
        "::error file=inventory/connections/redis-main.yaml,line=5,col=7,title=port::port: "
        "bob@example.com (role operator) may not change connections in environment "
        "production; allowed for: admin")


def test_usage_errors_exit_2(repo: Repo, cli: Run) -> None:
    unknown = cli("policy", "check", "--base", "no-such-branch", "--author", "@bob")
    assert unknown.exit_code == 2
    assert "unknown git revision 'no-such-branch'" in unknown.output
    assert check(cli, "not an id").exit_code == 2
    assert cli("policy", "check", "--author", "@bob").exit_code == 2  # --base is required
    assert cli("policy", "check", "--base", "main", "--author", "@bob", "nowhere").exit_code == 2


def test_without_policy_everything_is_allowed_and_adding_one_needs_its_admin(
    tmp_path: Path, cli: Run, monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = Repo(tmp_path / "bare")
    shutil.copytree(EXAMPLE_INVENTORY, repo.path / "inventory")
    policy = (repo.path / "inventory/policy.yaml").read_text()
    (repo.path / "inventory/policy.yaml").unlink()
    repo.commit(MALLORY, "Inventory without a policy")
    monkeypatch.chdir(repo.path)
    repo.edit("inventory/connections/redis-main.yaml", "port: 6379", "port: 6380")
    open_result = check(cli, MALLORY)
    assert open_result.exit_code == 0
    assert "every change is allowed" in open_result.output
    (repo.path / "inventory/policy.yaml").write_text(policy)
    assert check(cli, MALLORY).exit_code == 1
    bootstrap = check(cli, ALICE)
    assert bootstrap.exit_code == 0
    assert "checked against the policy being added" in bootstrap.output


# --- the changelog -------------------------------------------------------------------------

PROJECT = """\
name: shop
environments: [production]
"""
APP = """\
name: Shop
slug: shop
runtime: laravel-queue
environment: production
directory: /srv/shop
connections:
  - connection: redis-a
    primary: true
workers:
  - name: default
    queues: [default]
    max_processes: 2
    host_labels: {role: queue}
"""
HOST = """\
name: web-1
environment: production
labels: {{role: queue}}
age_recipient: {recipient}
"""
CONNECTION = """\
name: {name}
host: {name}.internal
password: {{sops: secrets/{name}.yaml, key: password}}
environment: production
"""
POLICY = """\
roles:
  admin:
    permissions: [{kinds: ["*"]}]
members:
  alice@example.com: [admin]
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)


def test_changelog_of_a_scripted_history(tmp_path: Path, cli: Run,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    key = make_age_key(tmp_path / "keys" / "web-1.agekey")
    repo = Repo(tmp_path / "shop")
    inv = repo.path / "inventory"
    _write(inv, {"project.yaml": PROJECT, "policy.yaml": POLICY, "applications/shop.yaml": APP,
                 "hosts/web-1.yaml": HOST.format(recipient=key.recipient),
                 "connections/redis-a.yaml": CONNECTION.format(name="redis-a"),
                 "connections/redis-b.yaml": CONNECTION.format(name="redis-b")})
    for name in ("redis-a", "redis-b"):
        sops_encrypt({"password": f"first-{name}"}, [key.recipient], inv / f"secrets/{name}.yaml")
    (repo.path / "README.md").write_text("not part of the inventory\n")
    c1 = repo.commit(ALICE, "Add the shop inventory")
    repo.edit("inventory/applications/shop.yaml", "max_processes: 2", "max_processes: 4")
    repo.edit("inventory/applications/shop.yaml", "queues: [default]", "queues: [high, default]")
    c2 = repo.commit(BOB, "Scale the shop workers")
    sops_encrypt({"password": "second-redis-a"}, [key.recipient], inv / "secrets/redis-a.yaml")
    c3 = repo.commit(CAROL, "Rotate the redis-a password")
    (inv / "hosts/web-1.yaml").rename(inv / "hosts/web-01.yaml")
    repo.edit("inventory/hosts/web-01.yaml", "name: web-1", "name: web-01")
    c4 = repo.commit(ALICE, "Rename web-1")
    (inv / "connections/redis-b.yaml").unlink()
    (inv / "secrets/redis-b.yaml").unlink()
    c5 = repo.commit(BOB, "Remove redis-b")
    repo.edit("inventory/project.yaml", "name: shop", "name: shop  # the web shop")
    (repo.path / "README.md").write_text("outside the inventory: not in its log\n")
    c6 = repo.commit(ALICE, "Explain the project name")
    (repo.path / "README.md").write_text("only the README\n")
    repo.commit(BOB, "Touch only the README")
    records = tmp_path / "deploys.jsonl"
    records.write_text(json.dumps({
        "host": "web-1", "bundle": "b-1", "revision": c2, "time": "2026-01-05T11:30:00Z",
        "result": "ok", "plan": {"added": [], "changed": ["shop-default"], "removed": [],
                                 "unchanged": []}}) + "\n" + "{torn line\n")
    monkeypatch.chdir(repo.path)

    result = cli("log", "--deploy-records", str(records))
    assert result.exit_code == 0, result.output
    s = {n: c[:12] for n, c in {"c1": c1, "c2": c2, "c3": c3, "c4": c4, "c5": c5,
                                  "c6": c6}.items()}
    assert result.output == f"""\
2026-01-05T10:00:00+00:00 {s['c1']} Alice Admin <alice@example.com>: Add the shop inventory
  added project
  added policy
  added application shop
  added connection redis-a
  added connection redis-b
  added host web-1
  added secret file secrets/redis-a.yaml (of connection redis-a)
  added secret file secrets/redis-b.yaml (of connection redis-b)
2026-01-05T11:00:00+00:00 {s['c2']} Bob Operator <bob@example.com>: Scale the shop workers
  changed application shop
    workers[default].queues: ["default"] → ["high", "default"]
    workers[default].max_processes: 2 → 4
2026-01-05T11:30:00Z deploy to web-1: ok (revision {s['c2']}): changed shop-default
2026-01-05T12:00:00+00:00 {s['c3']} Carol Viewer <carol@example.com>: Rotate the redis-a password
  changed secret file secrets/redis-a.yaml (of connection redis-a): password: (encrypted) → (encrypted)
2026-01-05T13:00:00+00:00 {s['c4']} Alice Admin <alice@example.com>: Rename web-1
  renamed host web-1 → web-01
2026-01-05T14:00:00+00:00 {s['c5']} Bob Operator <bob@example.com>: Remove redis-b
  removed connection redis-b
  removed secret file secrets/redis-b.yaml (of connection redis-b)
2026-01-05T15:00:00+00:00 {s['c6']} Alice Admin <alice@example.com>: Explain the project name
  no change to any object (comments or formatting only)
"""  # noqa: E501
    assert "second-redis-a" not in result.output and "ENC[" not in result.output

    since = cli("log", "--since", c3, "--format", "markdown")
    assert since.output == f"""\
# Changes to `inventory` since `{c3}`

## 2026-01-05T13:00:00+00:00 · `{s['c4']}` · `Alice Admin` (`alice@example.com`)

`Rename web-1`

- `renamed host web-1 → web-01`

## 2026-01-05T14:00:00+00:00 · `{s['c5']}` · `Bob Operator` (`bob@example.com`)

`Remove redis-b`

- `removed connection redis-b`
- `removed secret file secrets/redis-b.yaml (of connection redis-b)`

## 2026-01-05T15:00:00+00:00 · `{s['c6']}` · `Alice Admin` (`alice@example.com`)

`Explain the project name`

- no change to any object (comments or formatting only)
"""
    as_json = json.loads(cli("log", "--since", c1, "--format", "json").output)
    first = as_json["entries"][0]
    assert (first["commit"], first["author"]["email"]) == (c2, "bob@example.com")
    assert first["changes"][0]["fields"][1] == {
        "action": "change", "field": "workers[default].max_processes", "new": 4, "old": 2}
    assert cli("log", "--since", "nope").exit_code == 2
    after_c2 = cli("log", "--since", c2, "--deploy-records", str(records)).output
    assert after_c2.splitlines()[0] == f"2026-01-05T11:30:00Z deploy to web-1: ok (revision " \
        f"{s['c2']}): changed shop-default"
    assert "deploy to" not in cli("log", "--since", c3, "--deploy-records", str(records)).output


def test_a_branch_behind_its_target_is_checked_on_its_own_changes(repo: Repo,
                                                                   cli: Run) -> None:
    # main moves on (the admin changes production) after Bob's branch was created.
    repo.git("checkout", "-q", "main")
    repo.edit("inventory/connections/redis-main.yaml", "port: 6379", "port: 6390")
    repo.commit(ALICE, "Move redis-main")
    repo.git("checkout", "-q", "change")
    repo.edit("inventory/applications/storefront.yaml", "max_processes: 2", "max_processes: 3")
    repo.commit(BOB, "Scale storefront")
    result = check(cli, BOB)
    assert result.exit_code == 0, result.output
    assert "allowed: 1 change(s)" in result.output
    assert "where this branch left main" in result.output
    # The policy in effect is the target's, not the one at the fork.
    repo.git("checkout", "-q", "main")
    repo.edit("inventory/policy.yaml", '  bob@example.com: [operator]\n', "")
    repo.commit(ALICE, "Bob leaves the operators")
    repo.git("checkout", "-q", "change")
    assert "bob@example.com (no role) may not change" in check(cli, BOB).output


def test_a_symbolic_link_is_a_change_and_never_followed(repo: Repo, cli: Run,
                                                        tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("name: redis-x\nhost: x\nenvironment: staging\n")
    (repo.path / "inventory/connections/redis-x.yaml").symlink_to(outside)
    result = check(cli, BOB)
    assert result.exit_code == 1
    assert violations(result)[0].startswith(
        "inventory/connections/redis-x.yaml:1:1: bob@example.com (role operator) may not add "
        "connections in every environment; allowed for: admin")


def test_other_files_in_the_inventory_count_as_project(repo: Repo, cli: Run) -> None:
    (repo.path / "inventory/README.md").write_text("notes\n")
    result = check(cli, BOB)
    assert result.exit_code == 1
    assert violations(result) == [
        "inventory/README.md:1:1: bob@example.com (role operator) may not add project (files "
        "that are no object count as project); allowed for: admin"]
