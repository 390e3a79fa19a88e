"""Finding hznctl commands in shell text (workflows, docs) and checking them against the
real Click commands: the command exists, every option is one of its options, a literal
choice is one of its choices, and there are no more arguments than it takes."""

from __future__ import annotations

import shlex

import click

SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")", "\n"}
REDIRECTS = {">", ">>", "<", "2>", "&>", ">&"}


def invocations(script: str) -> list[list[str]]:
    """The argument lists of the hznctl commands in a shell script."""
    tokens: list[str] = []
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
    while command and (command[0] in ("exec", "$") or "=" in command[0].split("/")[0]):
        command = command[1:]
    if command and (command[0] == "hznctl" or command[0].endswith("/hznctl")):
        return command[1:]
    return None


def check_invocation(args: list[str], where: str) -> list[str]:
    """Assert ``hznctl ARGS`` is a real command line; returns the command's path."""
    from hznctl.cli.main import cli as group

    command, path, rest = _resolve(group, args, where)
    options = [p for p in command.params if isinstance(p, click.Option)]
    names = {name for p in options for name in (*p.opts, *p.secondary_opts)}
    names |= {"--help", "-h"}
    positional, index = 0, 0
    while index < len(rest):
        token = rest[index]
        if token == "--":  # the rest is arguments, whatever they look like
            positional += len(rest) - index - 1
            break
        if token.startswith("-") and token != "-":
            name, _, inline = token.partition("=")
            assert name in names, f"{where}: `hznctl {' '.join(path)}` has no option {name}"
            option = next((p for p in options if name in p.opts + p.secondary_opts), None)
            if option is not None and not option.is_flag and not option.count:
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
    if not {"--help", "-h"} & set(rest):
        given = {token.partition("=")[0] for token in rest[:rest.index("--")
                                                            if "--" in rest else None]}
        for option in options:
            if option.required:
                assert given & set(option.opts), (
                    f"{where}: `hznctl {' '.join(path)}` needs {option.opts[-1]}: {rest}")
    return path


def _resolve(group: click.Command, args: list[str], where: str
             ) -> tuple[click.Command, list[str], list[str]]:
    command, path, rest = group, [], list(args)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(click.Context(command), rest[0])
        assert sub is not None, f"{where}: `hznctl {' '.join([*path, rest[0]])}` is no command"
        command, path, rest = sub, [*path, rest[0]], rest[1:]
    extra = getattr(command, "subcommands", None)  # `health serve`
    if callable(extra) and rest and rest[0] in extra():
        command, path, rest = extra()[rest[0]], [*path, rest[0]], rest[1:]
    return command, path, rest
