"""The GitHub workflows and the reusable action: valid for GitHub, and every hznctl command
they run is a real command with real options."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from hznctl.scaffold.files import WORKFLOWS, workflow
from tests.acceptance.invocations import check_invocation, invocations
from tests.support import REPO

CHECK_JSONSCHEMA = REPO / ".venv/bin/check-jsonschema"
WORKFLOW_FILES = sorted((REPO / ".github/workflows").glob("*.yml"))
ACTION = REPO / "action.yml"


def test_workflows_validate_against_githubs_schema():
    assert {p.stem for p in WORKFLOW_FILES} >= {"validate", "deploy", "health"}
    _check_schema("vendor.github-workflows", WORKFLOW_FILES)


def test_action_validates_against_githubs_schema():
    _check_schema("vendor.github-actions", [ACTION])


def test_scaffolded_workflows_validate_for_another_action(tmp_path):
    files = []
    for name in WORKFLOWS:
        path = tmp_path / f"{name}.yml"
        path.write_text(workflow(name, "acme/hznctl@v1.2.3"))
        files.append(path)
    _check_schema("vendor.github-workflows", files)


def _check_schema(builtin, files):
    result = subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", builtin,
                             *map(str, files)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# -- every hznctl invocation ---------------------------------------------------------------

def steps_of(path: Path):
    data = yaml.safe_load(path.read_text())
    if "runs" in data:
        yield from data["runs"]["steps"]
    for job in (data.get("jobs") or {}).values():
        yield from job.get("steps", [])


def scripts():
    """(where, shell script) for every `run:` of every workflow and of the action."""
    for path in [*WORKFLOW_FILES, ACTION]:
        for index, step in enumerate(steps_of(path)):
            where = f"{path.relative_to(REPO)} step {index + 1} ({step.get('name', '')})"
            if "run" in step:
                yield where, step["run"]
            if step.get("uses") == "./" and step.get("with", {}).get("args"):
                yield where, "hznctl " + step["with"]["args"]


ALL = [(where, args) for where, script in scripts() for args in invocations(script)]


def test_the_parser_finds_the_commands():
    assert invocations('hznctl plan --base "$BASE" inv --format markdown >> "$X"') == [
        ["plan", "--base", "$BASE", "inv", "--format", "markdown"]]
    assert invocations("a && hznctl validate x\nfoo | hznctl deploy b") == [
        ["validate", "x"], ["deploy", "b"]]
    commands = {args[0] for _where, args in ALL if args and not args[0].startswith("-")}
    assert commands >= {"validate", "plan", "secrets", "policy", "compile", "deploy",
                        "health"}


@pytest.mark.parametrize(("where", "args"), ALL, ids=[" ".join(a) for _w, a in ALL])
def test_every_hznctl_invocation_is_real(cli, where, args):
    path = check_invocation(args, where)
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output


def test_local_action_inputs_exist():
    inputs = set(yaml.safe_load(ACTION.read_text())["inputs"])
    for path in WORKFLOW_FILES:
        for step in steps_of(path):
            if step.get("uses") == "./":
                assert set(step.get("with", {})) <= inputs, (path.name, step)


def test_every_script_is_valid_bash():
    for where, script in scripts():
        result = subprocess.run(["bash", "-n", "-c", script], capture_output=True, text=True)
        assert result.returncode == 0, f"{where}: {result.stderr}"


def test_the_action_runs_one_command_with_its_arguments_split_like_a_shell():
    data = yaml.safe_load(ACTION.read_text())
    step = next(s for s in data["runs"]["steps"] if s.get("name") == "Run hznctl")
    env = {"PATH": "/usr/bin:/bin", "HZNCTL": str(REPO / ".venv/bin/hznctl"),
           "HZNCTL_ARGS": "validate 'inventory' --format github --strict"}
    done = subprocess.run(["bash", "-c", step["run"]], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    env["HZNCTL_ARGS"] = "validate inventory; touch /tmp/hznctl-action-injected"
    done = subprocess.run(["bash", "-c", step["run"]], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2  # one odd argument, never a second shell command
    assert not Path("/tmp/hznctl-action-injected").exists()


def test_pre_commit_hooks_run_real_commands():
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == {"hznctl-validate", "hznctl-schema"}
    for hook in hooks:
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "python" and hook["pass_filenames"] is False
        line = " ".join([hook["entry"], *hook.get("args", [])])
        (args,) = invocations(line)
        check_invocation(args, f".pre-commit-hooks.yaml {hook['id']}")
    from hznctl.scaffold.files import render

    config = yaml.safe_load(render("pre-commit-config.yaml", hooks_repo="https://x/y",
                                   hooks_rev="v1"))
    assert {h["id"] for h in config["repos"][0]["hooks"]} == {h["id"] for h in hooks}
