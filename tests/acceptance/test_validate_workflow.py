"""The pull-request workflow, run here step by step (tests/workflow_runner.py) on an
inventory repository made by `hznctl init`, with a real `origin` and a pull request
branch: a valid change passes with its plan in the job summary; a change that breaks a
rule fails with an annotation on the line that breaks it."""

from __future__ import annotations

import subprocess

import pytest

from tests.workflow_runner import run_job

pytestmark = pytest.mark.timeout(180)
EU1 = "age1g72upzyl0a2uqfarcx0gl9854mn7tktqdrj754gqu79mc9r83shqnr2fkv"


def run_cli(*args, input=None):
    """hznctl in-process (the `cli` fixture is per test; this one serves a module fixture)."""
    import click
    from click.testing import CliRunner

    from hznctl.cli.main import main

    @click.command(context_settings={"ignore_unknown_options": True,
                                     "allow_extra_args": True, "help_option_names": []})
    @click.pass_context
    def command(ctx):
        main(list(ctx.args))

    return CliRunner().invoke(command, list(args), input=input, catch_exceptions=False)


def git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=Alice", "-c", "user.email=alice@acme.test",
                           *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """An inventory repository whose main has a host, a connection and an application."""
    top = tmp_path_factory.mktemp("origin")
    work = top / "acme-queues"
    assert run_cli("init", str(work), "--environment", "production").exit_code == 0
    inv = str(work / "inventory")
    key = str(work / ".hznctl/health-runner.agekey")
    steps = [
        ("new", "host", "worker-1", "--environment", "production", "--label", "role=queue",
         "--age-recipient", EU1, "-i", inv),
        ("new", "connection", "redis-main", "--host", "redis.internal", "--environment",
         "production", "-i", inv),
        ("new", "application", "billing", "--runtime", "rq", "--environment", "production",
         "--directory", "/srv/billing", "--connection", "redis-main", "-i", inv),
        ("new", "worker", "billing", "default", "--queue", "default", "--processes", "2",
         "--host-label", "role=queue", "--identity", key, "-i", inv),
    ]
    for args in steps:
        result = run_cli(*args, input="main-password\n")
        assert result.exit_code == 0, (args, result.output)
    (work / ".hznctl").rename(top / "keys")  # never committed: the workflow has no key
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "A host, a connection and the billing workers")
    bare = top / "origin.git"
    git(top, "clone", "-q", "--bare", str(work), str(bare))
    return bare


@pytest.fixture
def clone(origin, tmp_path):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    git(clone, "checkout", "-q", "-b", "change")
    assert not (clone / ".hznctl").exists()  # the job runs with no key at all
    return clone


def pull_request(clone, tmp_path, edit):
    app = clone / "inventory/applications/billing.yaml"
    app.write_text(edit(app.read_text()))
    git(clone, "commit", "-qam", "change the billing workers")
    return run_job(clone / ".github/workflows/validate.yml", "validate", cwd=clone,
                   scratch=tmp_path / "runner",
                   values={"github.base_ref": "main",
                           "github.event.pull_request.number": "7",
                           "github.event.pull_request.user.login": "alice"},
                   env={"HZNCTL_AGE_KEY_FILE": "", "SOPS_AGE_KEY_FILE": ""})


def test_a_valid_pull_request_passes_with_its_plan_in_the_summary(clone, tmp_path):
    run = pull_request(clone, tmp_path, lambda text: text.replace("max_processes: 2",
                                                                  "max_processes: 3"))
    assert run.ok, [(s.name, s.output) for s in run.steps]
    assert [s.name for s in run.steps if not s.skipped] == [
        "Validate the inventory", "Check the secrets (no key needed)",
        "Plan against the target branch", "Check that CODEOWNERS matches the policy",
        "Check the author's permissions"]
    assert "worker-1" in run.summary and "billing-default" in run.summary
    assert "`numprocs` `2` → `3`" in run.summary
    assert "::error" not in run.step("Validate the inventory").output


def test_a_pull_request_breaking_a_rule_is_annotated_on_its_line(clone, tmp_path):
    # max_processes stays 2: less than the new minimum.
    run = pull_request(clone, tmp_path, lambda text: text.replace("min_processes: 2",
                                                                  "min_processes: 4"))
    validate = run.step("Validate the inventory")
    assert validate.code == 1
    lines = (clone / "inventory/applications/billing.yaml").read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "min_processes: 4" in text)
    annotations = [a for a in validate.output.splitlines() if a.startswith("::error ")]
    assert len(annotations) == 1, validate.output
    assert annotations[0].startswith(
        f"::error file=inventory/applications/billing.yaml,line={line},"), validate.output
    assert "min_processes (4) is above max_processes (2)" in annotations[0]
    assert not run.ok
