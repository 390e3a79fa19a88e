"""Entry point: the command registry and the one error handler.

Commands are imported lazily so that `hznctl exec` (run for every worker start) and
`hznctl validate` pay only for what they use.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import sys
import traceback
from typing import Any

import click

from hznctl import __version__
from hznctl.errors import HznctlError

# name -> "module:attribute" of the click command
COMMANDS: dict[str, str] = {
    "validate": "hznctl.cli.validate:validate",
    "schema": "hznctl.cli.schema:schema",
    "compile": "hznctl.cli.compile:compile_command",
    "plan": "hznctl.cli.plan:plan",
    "secrets": "hznctl.cli.secrets:secrets",
    "exec": "hznctl.cli.exec:exec_command",
    "deploy": "hznctl.cli.deploy:deploy",
    "status": "hznctl.cli.status:status",
    "restart": "hznctl.cli.restart:restart",
    "health": "hznctl.cli.health:health",
    "policy": "hznctl.cli.policy:policy",
    "codeowners": "hznctl.cli.codeowners:codeowners",
    "log": "hznctl.cli.log:log",
    "init": "hznctl.cli.init:init",
    "new": "hznctl.cli.new:new",
    "import": "hznctl.cli.importer:import_group",
    "demo": "hznctl.cli.demo:demo",
}


def _module_exists(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n, target in COMMANDS.items()
                      if _module_exists(target.partition(":")[0]))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        if not _module_exists(module_name):
            return None
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        name = click.utils.make_str(args[0]) if args else ""
        if args and self.get_command(ctx, name) is None and not name.startswith("-"):
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"],
                                              "max_content_width": 100})
@click.version_option(__version__, prog_name="hznctl")
def cli() -> None:
    """hznctl: queue workers for many applications on many Redis servers, from git.

    Validate the inventory, compile per-host supervisord bundles, plan and deploy
    changes, and check the health of every Redis connection.
    """


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI and map every outcome to the documented exit codes."""
    try:
        # NO_COLOR (https://no-color.org): click strips colour from every secho and style.
        plain: dict[str, Any] = {"color": False} if os.environ.get("NO_COLOR") else {}
        code = cli.main(args=argv, prog_name="hznctl", standalone_mode=False, **plain)
    except HznctlError as exc:
        click.echo(f"hznctl: error: {shown(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("hznctl: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("hznctl: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:
        sys.exit(_internal_error(exc))
    sys.exit(code if isinstance(code, int) else 0)


def _internal_error(exc: BaseException) -> int:
    # Only the exception type and where it was raised: its message could quote a value
    # from the inventory or a secret, so it is shown in debug mode only.
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
    click.echo(
        f"hznctl: internal error: {type(exc).__name__}{where}. This is a bug in hznctl; "
        "please report it with the command you ran (HZNCTL_DEBUG=1 shows the traceback).",
        err=True,
    )
    if os.environ.get("HZNCTL_DEBUG"):
        click.echo(shown("".join(traceback.format_exception(exc))), err=True, nl=False)
    return 3


def shown(message: str) -> str:
    """A message for the terminal: redacted of every secret this process decrypted, each
    line escaped (a message quotes values from the inventory and from servers)."""
    from hznctl.escape import terminal
    from hznctl.redact import redact

    return "\n".join(terminal(line) for line in redact(message).split("\n"))


if __name__ == "__main__":  # pragma: no cover
    main()
