"""Every command's --format comes from the one output helper (hznctl/cli/output.py), so no
command grows its own choose-a-format block again; the helper's registry and exit codes
hold together; deploy's and restart's records share one renderer."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from hznctl.cli import output
from hznctl.cli.main import cli
from hznctl.deploy.record import DeployRecord
from hznctl.errors import EXIT_FINDINGS, EXIT_USAGE, HznctlError, UsageError

CLI = Path(output.__file__).parent


def commands() -> Iterator[tuple[str, click.Command]]:
    """Every command and subcommand, `health serve` too."""
    ctx = click.Context(cli, info_name="hznctl")

    def walk(path: str, command: click.Command) -> Iterator[tuple[str, click.Command]]:
        yield path, command
        subcommands: dict[str, click.Command] = {}
        if isinstance(command, click.Group):
            subcommands = {n: c for n in command.list_commands(ctx)
                           if (c := command.get_command(ctx, n)) is not None}
        subcommands.update(getattr(command, "subcommands", dict)())
        for name, sub in sorted(subcommands.items()):
            yield from walk(f"{path} {name}", sub)

    yield from walk("hznctl", cli)


def test_every_format_option_is_the_helpers() -> None:
    found = []
    for path, command in commands():
        for param in command.params:
            if "--format" in getattr(param, "opts", ()) or param.name == "output_format":
                assert isinstance(param, output.FormatOption), (
                    f"`{path}` makes its own --format: use hznctl.cli.output.format_option")
                assert isinstance(param.type, click.Choice)
                assert list(param.type.choices) == list(output.RENDERERS[param.kind])
                assert param.default == output.DEFAULT_FORMAT
                found.append(path)
    # The commands that show results; a new one joins by using format_option.
    assert set(found) >= {"hznctl validate", "hznctl compile", "hznctl plan", "hznctl deploy",
                          "hznctl restart", "hznctl status", "hznctl health",
                          "hznctl policy check", "hznctl log", "hznctl secrets sync",
                          "hznctl secrets status", "hznctl import supervisord"}


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(CLI.glob("*.py")):
        if path.name != "output.py":
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def test_no_command_chooses_a_format_itself() -> None:
    """Only the helper looks at the format's value or spells "--format"."""
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                assert "output_format" not in names, (
                    f"{path.name}:{node.lineno}: a format is chosen by "
                    "hznctl.cli.output.show, not by comparing output_format")
            if isinstance(node, ast.Constant) and node.value == "--format":
                pytest.fail(f"{path.name}:{node.lineno}: --format is made by format_option")


@pytest.mark.parametrize("kind", sorted(output.RENDERERS))
def test_every_renderer_is_there(kind: str) -> None:
    assert output.RENDERERS[kind], kind
    assert output.DEFAULT_FORMAT in output.RENDERERS[kind]
    for target in output.RENDERERS[kind].values():
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), target


def test_exit_codes_are_the_documented_ones() -> None:
    assert (output.verdict(True), output.verdict(False)) == (0, 1)
    assert HznctlError.exit_code == EXIT_FINDINGS == 1
    assert UsageError.exit_code == EXIT_USAGE == 2


def test_printed_keeps_each_part_on_its_stream_in_order(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    output.write(output.Printed().out("a\n").err("b\n").out("c\n"))
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("a\nc\n", "b\n")


def _record(command: str, **fields: object) -> DeployRecord:
    record = DeployRecord(host="web-1", bundle="abc123", revision="r1", previous_bundle=None,
                          plan={}, command=command, durations={"total": 1.5})
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def test_deploy_and_restart_records_share_the_head_and_the_result_line() -> None:
    from hznctl.cli.deploy import render_text

    deploy = render_text(_record("deploy", plan={"added": ["a-one"], "unchanged": []}))
    restart = render_text(_record("restart", plan={"application": "a", "restart": ["a-one"]},
                                  actions={"restarted": ["a-one"],
                                           "durations": {"a-one": 0.25}}))
    assert deploy == ("host web-1: bundle abc123 (revision r1)\n  added: a-one\n"
                      "  unchanged: 0 group(s)\nresult: ok in 1.50s\n")
    assert restart == ("host web-1: bundle abc123 (revision r1)\n"
                       "  application a: 1 group(s), one at a time\n"
                       "  restarted: a-one (0.25s)\nresult: ok in 1.50s\n")


def test_a_restart_record_is_escaped_for_the_terminal_like_a_deploys() -> None:
    from hznctl.cli.deploy import failure, render_text

    hostile = "::error::x\x1b[2J"
    record = _record("restart", plan={"application": hostile, "restart": [hostile]},
                     actions={"restarted": [], "failed": hostile, "not_restarted": [hostile]},
                     result="failed", error="boom")
    text = render_text(record)
    assert "\x1b" not in text
    assert "  failed: \\x3a:error::x\\x1b[2J\n" in text
    assert "  not restarted: \\x3a:error::x\\x1b[2J\n" in text
    assert failure(record) == "restart failed: boom"
