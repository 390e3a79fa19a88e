"""`hznctl demo`."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType

import click

from hznctl.cli.options import absolute_path
from hznctl.demo import Demo, DemoOptions, DemoResult, find_source


def _show(kind: str, text: str) -> None:
    if kind == "step":
        click.secho(f"==> {text}", bold=True)
    elif kind == "command":
        click.secho(f"$ {text}", fg="cyan")
    else:
        click.echo("\n".join(f"    {line}" for line in text.splitlines()))


def _interrupt_on_term(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # the same clean-up as Ctrl-C


def _summary(result: DemoResult) -> None:
    click.secho(f"\n{len(result.done)} of {result.jobs} jobs run by real workers; health "
                f"{'ok' if result.health_exit == 0 else 'NOT ok (exit 1)'}", bold=True)
    click.echo("Where to look:")
    for what, where in result.looks:
        click.echo(f"  {what + ':':<36} {where}")


@click.command()
@click.option("--wait/--no-wait", default=None,
              help="Keep everything running until Ctrl-C (default: unless --keep).")
@click.option("--keep", is_flag=True, help="Do not wait: stop the processes at once and keep "
              "the demo's folder (reports, bundles, logs).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), callback=absolute_path,
              help="Work in this new or empty folder (kept) instead of a temporary one.")
@click.option("--source", type=click.Path(file_okay=False, path_type=Path), callback=absolute_path,
              help="The demo folder with inventory/, app/ and keys/ (default: ./demo).")
@click.option("--timeout", type=click.FloatRange(min=5), default=120.0, show_default=True,
              help="Seconds to wait for each step (workers running, jobs done).")
def demo(wait: bool | None, keep: bool, workdir: Path | None, source: Path | None,
         timeout: float) -> int:
    """Run the whole loop locally: Redis, supervisord, compile, deploy, jobs, health.

    Starts a redis-server per connection of the demo inventory (demo/) and a supervisord in
    a temporary folder, compiles and deploys the inventory there, enqueues a job on every
    queue and waits until real workers ran them all, changes one worker group and shows
    its plan and a redeploy that restarts only that group, writes the health reports, and
    says where to look. Everything is stopped and removed on exit, Ctrl-C included.
    """
    signal.signal(signal.SIGTERM, _interrupt_on_term)
    options = DemoOptions(find_source(source), workdir, keep or workdir is not None, timeout)
    with Demo(options, _show) as session:
        result = session.run()
        _summary(result)
        # Waiting does not depend on a terminal: the folder printed above must still be
        # there when someone (or something) reads it, until Ctrl-C (or SIGTERM).
        if wait if wait is not None else not keep:
            click.secho("\nEverything is running. Press Ctrl-C to stop and clean up "
                        "(`--keep` stops at once and keeps the folder).", bold=True)
            while True:
                time.sleep(3600)
    return result.health_exit
