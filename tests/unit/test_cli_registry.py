"""`hznctl --help` lists the commands from the registry without importing them; each line
is what click makes of the command's own docstring, so the two can never disagree."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from hznctl.cli.main import COMMANDS, cli, fit


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_registry_summary_is_the_commands_short_help(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    assert COMMANDS[name].summary == command.get_short_help_str(10**6)
    # click truncates to the terminal's width: same words at every width.
    for limit in range(10, 120):
        assert fit(COMMANDS[name].summary, limit) == \
            command.get_short_help_str(limit), (name, limit)


_PROBE = """
import json, sys
from hznctl.cli.main import main
sys.argv = ["hznctl", "--help"]
try:
    main()
except SystemExit:
    pass
heavy = ("pydantic", "hznctl.demo", "hznctl.inventory", "yaml", "jinja2", "supervisor")
print(json.dumps(sorted(m for m in sys.modules
                        if m.startswith("hznctl.cli.") and m != "hznctl.cli.main"
                        or m.split(".")[0] in heavy or m in heavy)))
"""


def test_help_imports_no_command_module() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                         check=True, timeout=60)
    assert "Commands:" in out.stdout
    assert json.loads(out.stdout.splitlines()[-1]) == []


def test_help_lists_every_command_in_the_commands_words() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for name, entry in COMMANDS.items():
        assert f"  {name}" in result.output
        assert fit(entry.summary, 200) in result.output
