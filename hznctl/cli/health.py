"""`hznctl health`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NamedTuple

import click

from hznctl.cli.options import absolute_path, inventory_argument
from hznctl.cli.output import diagnostics_to_stderr, format_option, human, show
from hznctl.cli.terminal import Progress, colour

_COLOURS = {"ok": "green", "warning": "yellow", "critical": "magenta", "down": "red",
            "error": "red"}


class _HealthCommand(click.Command):
    """`hznctl health [PATH]`, and `hznctl health serve [PATH]` for the monitor."""

    def subcommands(self) -> dict[str, click.Command]:
        from hznctl.cli.health_serve import serve

        return {"serve": serve}

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        if args and args[0] == "serve":
            from hznctl.cli.health_serve import serve

            return serve.make_context(f"{info_name} serve", args[1:], parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)


@click.command(cls=_HealthCommand)
@inventory_argument
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              callback=absolute_path, default="reports",
              show_default=True, help="Folder for report.json, junit.xml, summary.md, "
              "metrics.prom and index.html.")
@click.option("--environment", "environments", multiple=True, metavar="NAME",
              help="Only connections of this environment (repeatable).")
@click.option("--connection", "connections", multiple=True, metavar="NAME",
              help="Only this connection (repeatable).")
@click.option("--deadline", type=click.FloatRange(min=0.1, max=600), default=None,
              metavar="SECONDS", help="Deadline of the whole run [default: project "
              "health.deadline].")
@click.option("--history", type=click.Path(dir_okay=False, path_type=Path),
              callback=absolute_path, default=None,
              metavar="FILE", help="JSON-lines history: read for status changes and charts, "
              "then appended.")
@click.option("--identity", type=click.Path(dir_okay=False, path_type=Path),
              callback=absolute_path, default=None,
              metavar="FILE", help="age identity of the health runner [default: "
              "$HZNCTL_AGE_KEY_FILE, $SOPS_AGE_KEY_FILE].")
@click.option("--fail-on", type=click.Choice(["warning", "critical", "down", "never"]),
              default="critical", show_default=True,
              help="Exit 1 when a connection is at least this bad (error counts as down).")
@click.option("--no-notify", is_flag=True, help="Do not send notifications.")
@format_option("health")
def health(path: Path, out: Path, environments: tuple[str, ...], connections: tuple[str, ...],
           deadline: float | None, history: Path | None, identity: Path | None, fail_on: str,
           no_notify: bool, output_format: str) -> int:
    """Probe every active Redis connection of the inventory at PATH and write reports.

    Decrypts each connection's password with the runner's age identity, probes all
    connections concurrently under a hard deadline (connect, AUTH, PING latency, INFO,
    keys, queue depths), grades each ok/warning/critical/down/error, notifies on status
    changes (with --history), and writes the reports into --out. Exit 0 when all is
    well, 1 when a connection is at or above --fail-on (default: critical or down).

    `hznctl health serve [PATH]` runs the same probes on an interval and serves
    /metrics, /healthz, the dashboard and /probe (see `hznctl health serve --help`).
    """
    started = time.monotonic()
    from hznctl.errors import InventoryError
    from hznctl.health.run import HealthOptions, run_health

    options = HealthOptions(path, out, environments, connections, deadline, history, identity,
                            notify=not no_notify, started=started)
    progress = Progress("probing", enabled=human(output_format))
    try:
        run = run_health(options, on_result=progress.advance, on_start=progress.start)
    except InventoryError as exc:
        diagnostics_to_stderr(exc.diagnostics)
        raise
    finally:
        progress.finish()
    if run.report.history_problem is not None:
        from hznctl.escape import terminal

        click.echo(f"hznctl: warning: {terminal(run.report.history_problem)}; it was "
                   "ignored and set aside, and a new history starts", err=True)
    return show("health", output_format, Probed(run, out), ok=not run.failed(fail_on))


class Probed(NamedTuple):
    """A health run as the command shows it: the run and where its reports are."""

    run: Any
    out: Path


def render_json(probed: Probed) -> str:
    text: str = probed.run.report.to_json()
    return text


def render_text(probed: Probed) -> str:
    from hznctl.escape import terminal

    report, lines = probed.run.report, []
    coloured = colour()
    for item in report.connections:
        if item.status.value == "ok":
            continue
        status = item.status.value
        shown = click.style(f"{status:<8}", fg=_COLOURS[status]) if coloured else f"{status:<8}"
        lines.append(f"{shown} {terminal(item.connection)} ({terminal(item.environment)}, "
                     f"{terminal(item.endpoint)}): {terminal(item.message)}")
    for t in report.transitions:
        before = t.previous.value if t.previous else "new"
        lines.append(f"changed  {terminal(t.connection)}: {before} → {t.current.value}")
    for note in report.notifications:
        state = "sent" if note.delivered else f"not sent ({terminal(note.error or '')})"
        lines.append(f"notified {terminal(note.channel)}: {note.transitions} change(s), {state}")
    counts = ", ".join(f"{n} {s.value}" for s, n in report.counts.items() if n)
    lines.append(f"health: {report.status.value} — {len(report.connections)} connection(s): "
                 f"{counts} in {report.duration_seconds:.2f} s; reports in "
                 f"{terminal(str(probed.out))}/")
    return "".join(line + "\n" for line in lines)
