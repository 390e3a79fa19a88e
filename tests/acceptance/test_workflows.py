"""The GitHub workflows and the reusable action: valid for GitHub, and every hznctl command
they run is a real command with real options."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import click
import pytest
import yaml

from hznctl.scaffold.files import WORKFLOWS, workflow
from tests.support import REPO

CHECK_JSONSCHEMA = REPO / ".venv/bin/check-jsonschema"
WORKFLOW_FILES = sorted((REPO / ".github/workflows").glob("*.yml"))
ACTION = REPO / "action.yml"
SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")", "\n"}
REDIRECTS = {">", ">>", "<", "2>", "&>", ">&"}


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


def invocations(script: str) -> list[list[str]]:
    """The argument lists of the hznctl commands in a shell script."""
    tokens = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens += [*lexer, "\n"]
    found, command, skip_next = [], [], False
    for token in tokens:
        if skip_next:
            skip_next = False
        elif token in REDIRECTS:
            skip_next = True  # the redirect's target is no argument
        elif token in SEPARATORS:
            if command:
                found.append(command)
            command = []
        else:
            command.append(token)
    return [args for cmd in found if (args := _hznctl_args(cmd)) is not None]


def _hznctl_args(command: list[str]) -> list[str] | None:
    while command and (command[0] == "exec" or "=" in command[0].split("/")[0]):
        command = command[1:]
    if command and (command[0] == "hznctl" or command[0].endswith("/hznctl")):
        return command[1:]
    return None


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
    from hznctl.cli.main import cli as group

    command, path, rest = _resolve(group, args, where)
    names = {name for param in command.params if isinstance(param, click.Option)
             for name in (*param.opts, *param.secondary_opts)} | {"--help", "-h"}
    positional = 0
    index = 0
    while index < len(rest):
        token = rest[index]
        if token.startswith("-") and token != "-":
            name, _, inline = token.partition("=")
            assert name in names, f"{where}: `hznctl {' '.join(path)}` has no option {name}"
            option = next(p for p in command.params
                          if isinstance(p, click.Option) and name in p.opts + p.secondary_opts)
            if not option.is_flag and not option.count:
                value = inline or rest[index + 1]
                index += 0 if inline else 1
                if isinstance(option.type, click.Choice) and "$" not in value:
                    assert value in option.type.choices, f"{where}: {name} {value}"
        else:
            positional += 1
        index += 1
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    if not any(a.nargs == -1 for a in arguments):
        assert positional <= len(arguments), f"{where}: too many arguments: {rest}"
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output


def _resolve(group, args, where):
    command, path, rest = group, [], list(args)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(click.Context(command), rest[0])
        assert sub is not None, f"{where}: `hznctl {' '.join([*path, rest[0]])}` is no command"
        command, path, rest = sub, [*path, rest[0]], rest[1:]
    return command, path, rest


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
