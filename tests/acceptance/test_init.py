"""`hznctl init`: a new inventory repository that validates as it is."""

from __future__ import annotations

import stat
import subprocess
import sys

import pytest
import yaml

from hznctl.scaffold.files import LOCAL_ACTION, WORKFLOWS, workflow
from tests.support import REPO

pytestmark = pytest.mark.timeout(60)


def test_init_makes_a_repository_that_validates(cli, tmp_path):
    repo = tmp_path / "queues"
    result = cli("init", str(repo), "--environment", "production", "--action",
                 "acme/hznctl@v1")
    assert result.exit_code == 0, result.output
    for relative in ("README.md", ".gitignore", ".pre-commit-config.yaml",
                     "inventory/project.yaml", "inventory/.sops.yaml",
                     ".github/workflows/validate.yml", ".github/workflows/deploy.yml",
                     ".github/workflows/health.yml", "schemas/application.schema.json"):
        assert (repo / relative).is_file(), relative
    for folder in ("applications", "connections", "hosts", "secrets"):
        assert (repo / "inventory" / folder).is_dir()
    assert cli("validate", str(repo / "inventory"), "--strict").exit_code == 0

    project = yaml.safe_load((repo / "inventory/project.yaml").read_text())
    assert project["environments"] == ["production"]
    key = repo / ".hznctl/health-runner.agekey"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert project["health"]["recipients"] == [_public_key(key)]
    assert ".hznctl/" in (repo / ".gitignore").read_text().splitlines()
    deploy = (repo / ".github/workflows/deploy.yml").read_text()
    assert "uses: acme/hznctl@v1" in deploy
    hooks = yaml.safe_load((repo / ".pre-commit-config.yaml").read_text())
    assert hooks["repos"][0]["repo"] == "https://github.com/acme/hznctl"
    assert hooks["repos"][0]["rev"] == "v1"
    assert stat.S_IMODE(repo.stat().st_mode) & 0o055  # not mkdtemp's private 0700


def _public_key(path):
    return next(line.split(": ", 1)[1] for line in path.read_text().splitlines()
                if line.startswith("# public key: "))


def test_workflows_it_writes_pass_githubs_schema(cli, tmp_path):
    repo = tmp_path / "queues"
    assert cli("init", str(repo)).exit_code == 0
    files = sorted(str(p) for p in (repo / ".github/workflows").glob("*.yml"))
    check = subprocess.run([str(REPO / ".venv/bin/check-jsonschema"), "--builtin-schema",
                            "vendor.github-workflows", *files], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_existing_health_key_is_used_and_no_key_is_made(cli, tmp_path):
    recipient = "age1wr2d8h6f0xmjh2pwx4m7g7s26fmzyjj6tmnw8aqkwcxp4dh80dws9muhfl"
    repo = tmp_path / "queues"
    result = cli("init", str(repo), "--health-recipient", recipient)
    assert result.exit_code == 0, result.output
    assert not (repo / ".hznctl").exists()
    assert recipient in (repo / "inventory/project.yaml").read_text()


def test_refuses_a_folder_that_is_not_empty(cli, tmp_path):
    repo = tmp_path / "queues"
    repo.mkdir()
    (repo / "notes.txt").write_text("mine")
    result = cli("init", str(repo))
    assert result.exit_code == 1
    assert "is not empty" in result.output
    assert sorted(p.name for p in repo.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["queues"]  # no staging left


def test_bad_environment_is_a_usage_error_and_writes_nothing(cli, tmp_path):
    result = cli("init", str(tmp_path / "queues"), "--environment", "Prod uction")
    assert result.exit_code == 2
    assert not (tmp_path / "queues").exists()


def test_this_repositorys_workflows_are_the_scaffold_with_the_local_action():
    # One source for both: what `init` writes is what this repository runs on itself.
    for name in WORKFLOWS:
        ours = (REPO / ".github/workflows" / f"{name}.yml").read_text()
        assert ours == workflow(name, LOCAL_ACTION), (
            f".github/workflows/{name}.yml differs from hznctl/scaffold/files/workflows/; "
            f"regenerate: {sys.executable} -c 'from hznctl.scaffold.files import *; "
            f"print(workflow(\"{name}\", LOCAL_ACTION), end=\"\")' > "
            f".github/workflows/{name}.yml")
