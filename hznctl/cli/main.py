"""Entry point: the command registry and the one error handler.

Commands are imported lazily so that `hznctl exec` (run for every worker start) and
`hznctl validate` pay only for what they use.
"""

from __future__ import annotations

import atexit
import difflib
import importlib
import importlib.util
import os
import sys
import threading
import traceback
from typing import Any, NamedTuple

import click

from hznctl import __version__
from hznctl.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, HznctlError


class Entry(NamedTuple):
    """A command as the registry knows it before its module is imported."""

    target: str  # "module:attribute" of the click command
    summary: str  # its short help, as click makes it from the docstring (a test holds it)


# `hznctl --help` lists every command from here: importing the commands (and pydantic, the
# demo, supervisor's client) only to print one line each would cost many times more than
# the interpreter's start.
COMMANDS: dict[str, Entry] = {
    "validate": Entry("hznctl.cli.validate:validate", "Check the inventory at PATH (default: "
                      "inventory/) against every schema and rule."),
    "schema": Entry("hznctl.cli.schema:schema", "Write one JSON Schema per inventory kind "
                    "(project, application, connection, …)."),
    "compile": Entry("hznctl.cli.compile:compile_command", "Compile the inventory at PATH "
                     "into one bundle per host in --out."),
    "plan": Entry("hznctl.cli.plan:plan", "Show which worker groups a change adds, changes "
                  "(and why) or removes, per host."),
    "secrets": Entry("hznctl.cli.secrets:secrets", "Manage secrets: SOPS files encrypted for "
                     "the age keys of hosts and the health runner."),
    "exec": Entry("hznctl.cli.exec:exec_command", "Start a worker with its secrets: decrypt "
                  "them with the host's age key and exec ARGV."),
    "deploy": Entry("hznctl.cli.deploy:deploy", "Converge this host's supervisord to BUNDLE "
                    "(one host's folder from `hznctl compile`)."),
    "status": Entry("hznctl.cli.status:status", "Compare the installed bundle with the live "
                    "supervisord; exit 1 on drift."),
    "restart": Entry("hznctl.cli.restart:restart", "Restart APPLICATION's workers on this host "
                     "(after a release of its code)."),
    "health": Entry("hznctl.cli.health:health", "Probe every active Redis connection of the "
                    "inventory at PATH and write reports."),
    "policy": Entry("hznctl.cli.policy:policy", "Roles from policy.yaml: who may change what "
                    "in the inventory."),
    "codeowners": Entry("hznctl.cli.codeowners:codeowners", "Generate .github/CODEOWNERS "
                        "from policy.yaml (PATH: the inventory, default inventory/)."),
    "log": Entry("hznctl.cli.log:log", "The activity log of the inventory at PATH: who "
                 "changed which object and field, when, in which commit, read from git "
                 "history (and deploys, with --deploy-records)."),
    "init": Entry("hznctl.cli.init:init", "Create a new inventory repository in DIRECTORY "
                  "(new or empty)."),
    "new": Entry("hznctl.cli.new:new", "Add an application, connection, host or worker "
                 "group to the inventory."),
    "import": Entry("hznctl.cli.importer:import_group", "Bring an existing fleet in: its "
                    "supervisord files and Horizon config."),
    "demo": Entry("hznctl.cli.demo:demo", "Run the whole loop locally: Redis, supervisord, "
                  "compile, deploy, jobs, health."),
}


def fit(summary: str, limit: int) -> str:
    """The summary cut at a word to ``limit`` characters with "...", as click cuts it."""
    if len(summary) <= limit:
        return summary
    kept: list[str] = []
    for word in summary.split():
        if len(" ".join([*kept, word])) + 3 > limit:
            break
        kept.append(word)
    return " ".join(kept) + "..."


def _module_exists(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n, entry in COMMANDS.items()
                      if _module_exists(entry.target.partition(":")[0]))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, _, attr = entry.target.partition(":")
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

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own, with each line from the registry instead of the imported command.
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, fit(COMMANDS[name].summary, limit))
                for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


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
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("hznctl: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:
        sys.exit(_internal_error(exc))
    sys.exit(code if isinstance(code, int) else 0)


def run() -> None:
    """The `hznctl` program: `main()`, then leave without tearing the heap down.

    A large inventory leaves hundreds of thousands of objects behind, and an interpreter
    that exits normally frees them one by one (0.1-0.3 s of `hznctl validate` at full
    scale) only for the kernel to drop the whole address space anyway. So, once the command
    is done, this runs what a normal exit would run (atexit handlers, which also run
    `weakref.finalize` clean-ups such as temporary folders, and logging's flush), flushes
    the standard streams and ends the process with the same status. With another thread
    still running it exits normally, which waits for that thread as Python always does.
    """
    try:
        main()
        code: int = 0
    except SystemExit as exc:
        code = _status(exc.code)
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # a closed pipe: what was printed did not arrive
            code = code or 1
        except ValueError:  # a stream the command closed itself: nothing left to flush
            pass
    os._exit(code)


def _status(code: object) -> int:
    """The exit status `sys.exit(code)` gives: None is 0, an int itself, anything else is
    printed to standard error and gives 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


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
    return EXIT_INTERNAL


def shown(message: str) -> str:
    """A message for the terminal: redacted of every secret this process decrypted, each
    line escaped (a message quotes values from the inventory and from servers)."""
    from hznctl.escape import terminal
    from hznctl.redact import redact

    return "\n".join(terminal(line) for line in redact(message).split("\n"))


if __name__ == "__main__":  # pragma: no cover
    main()
