from __future__ import annotations


def test_example_inventory_is_valid(cli, example_inventory):
    result = cli("validate", str(example_inventory))
    assert result.exit_code == 0, result.output
    assert "valid:" in result.output


def test_every_command_has_help(cli):
    import click

    from hznctl.cli.main import LazyGroup
    from hznctl.cli.main import cli as group

    ctx = click.Context(group)
    for name in LazyGroup.list_commands(group, ctx):
        command = group.get_command(ctx, name)
        assert command is not None and (command.help or "").strip(), name
        result = cli(name, "--help")
        assert result.exit_code == 0, (name, result.output)
