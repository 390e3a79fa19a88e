"""The documentation tells the truth: the README's CLI reference is the commands' own help,
every command has help, every hznctl command line shown in the docs is a real one, and
shell completion works."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import click
import pytest

from hznctl.cli.reference import reference, with_reference
from tests.acceptance.invocations import check_invocation, invocations
from tests.support import REPO

README = REPO / "README.md"
OPERATORS = REPO / "docs" / "operators.md"
DOCS = [README, OPERATORS, REPO / "docs" / "secrets.md", REPO / "docs" / "deploy.md"]


def test_readme_cli_reference_is_in_sync():
    text = README.read_text()
    assert with_reference(text) == text, (
        "README.md's CLI reference is stale: run "
        "`.venv/bin/python -m hznctl.cli.reference README.md`")


def test_reference_covers_every_command_and_subcommand():
    from hznctl.cli.main import COMMANDS

    text = reference()
    for name in COMMANDS:
        assert f"### `hznctl {name}`" in text, name
    for sub in ("new host", "new connection", "new application", "new worker",
                "secrets set", "policy check", "health serve"):
        assert f"### `hznctl {sub}`" in text, sub


def all_commands():
    from hznctl.cli.main import cli

    def walk(command, path, ctx):
        yield path, command
        extra = getattr(command, "subcommands", None)
        if callable(extra):
            for name, sub in extra().items():
                yield from walk(sub, [*path, name], click.Context(sub, parent=ctx))
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                yield from walk(sub, [*path, name], click.Context(sub, parent=ctx))

    yield from walk(cli, [], click.Context(cli))


def test_every_command_has_help(cli):
    for path, command in all_commands():
        assert (command.help or "").strip(), f"`hznctl {' '.join(path)}` has no help"
        assert command.get_short_help_str().strip(), path
        result = cli(*path, "--help")
        assert result.exit_code == 0 and "Usage: hznctl" in result.output, path


def test_quick_start_keeps_the_two_commands():
    text = README.read_text()
    quick = text.split("## Quick start", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    assert quick.splitlines() == [
        "make run     # installs hznctl into .venv and runs the main job on the example "
        "inventory",
        "make test    # installs what the tests need and runs the whole test suite",
    ]


def code_blocks(path):
    """The shell and YAML blocks (fenced ``` with sh, bash, yaml or no language), each fence
    paired with its own closing fence, so that prose is never read as commands."""
    return [body for lang, body in re.findall(r"^```([\w-]*)\n(.*?)^```", path.read_text(),
                                              flags=re.S | re.M)
            if lang in ("", "sh", "bash", "yaml")]


SHOWN = [(f"{path.relative_to(REPO)}", args) for path in DOCS
         for block in code_blocks(path) if "Usage: hznctl" not in block
         for args in invocations("\n".join(
             line.split("- run: ", 1)[-1] for line in block.splitlines()))]


def test_the_docs_show_commands():
    shown = {args[0] for _where, args in SHOWN if args}
    assert shown >= {"validate", "new", "secrets", "plan", "policy", "health", "status",
                     "log", "init"}


@pytest.mark.parametrize(("where", "args"), SHOWN, ids=[" ".join(a) for _w, a in SHOWN])
def test_every_command_shown_in_the_docs_is_real(where, args):
    check_invocation(args, where)


def test_operators_guide_has_every_task():
    text = OPERATORS.read_text()
    for heading in ("## Add a connection", "## Rotate a password", "## Add a host",
                    "## Move a worker group", "## Read a health report",
                    "## When health is red"):
        assert heading in text


def test_shell_completion():
    env = {**os.environ, "_HZNCTL_COMPLETE": "bash_complete", "COMP_WORDS": "hznctl new con",
           "COMP_CWORD": "2"}
    done = subprocess.run([sys.executable, "-m", "hznctl"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.split() == ["plain,connection"], done.stdout + done.stderr
    env["_HZNCTL_COMPLETE"] = "bash_source"
    script = subprocess.run([sys.executable, "-m", "hznctl"], env=env, capture_output=True,
                            text=True, timeout=60).stdout
    assert "_hznctl_completion()" in script
    assert "_HZNCTL_COMPLETE=bash_source hznctl" in README.read_text()


def test_the_scaffolds_readme_shows_real_commands():
    from hznctl.scaffold.files import render

    text = render("README.md", title="acme", install="python3 -m pip install hznctl")
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    shown = [args for block in blocks for args in invocations(block)]
    assert {args[0] for args in shown} >= {"new", "validate", "plan"}
    for args in shown:
        check_invocation(args, "hznctl/scaffold/files/README.md")


def test_every_option_of_the_operator_commands_says_what_it_does():
    for path, command in all_commands():
        if path[:1] not in (["init"], ["new"], ["demo"]):
            continue
        for param in command.params:
            if isinstance(param, click.Option):
                assert (param.help or "").strip(), (path, param.name)


def _hints():
    """Every complete hznctl command the package's messages tell a user to run."""
    found = set()
    for path in (REPO / "hznctl").rglob("*.py"):
        text = "\n".join(line for line in path.read_text().splitlines()
                         if not line.lstrip().startswith("#"))  # comments are not messages
        for quoted in re.findall(r"`(hznctl [^`]*)`", text):
            quoted = re.sub(r'"\s*\n\s*f?"', "", quoted)  # joined string literals
            if " -" not in quoted or any(c in quoted for c in "|…[") or "shlex" in quoted:
                continue  # a command named, not a command line to run
            found.add((path.relative_to(REPO).as_posix(), re.sub(r"\{[^}]*\}", "x", quoted)))
    return sorted(found)


@pytest.mark.parametrize(("where", "line"), _hints(), ids=[h[1] for h in _hints()])
def test_every_command_a_message_suggests_is_real(where, line):
    check_invocation(invocations(line)[0], where)
