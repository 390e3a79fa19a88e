"""`hznctl health serve`."""

from __future__ import annotations

from pathlib import Path

import click

from hznctl.cli.options import inventory_argument
from hznctl.health.history import CHART_RUNS


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"{value!r} is not HOST:PORT", param_hint="--listen")
    return host.strip("[]") or "127.0.0.1", int(port)


@click.command()
@inventory_argument
@click.option("--listen", default="127.0.0.1:9530", show_default=True, metavar="HOST:PORT",
              help="Address to serve on (port 0: any free port).")
@click.option("--interval", type=click.FloatRange(min=0.5, max=86400), default=30.0,
              show_default=True, metavar="SECONDS", help="Seconds from one round to the next.")
@click.option("--environment", "environments", multiple=True, metavar="NAME",
              help="Only connections of this environment (repeatable).")
@click.option("--connection", "connections", multiple=True, metavar="NAME",
              help="Only this connection (repeatable).")
@click.option("--deadline", type=click.FloatRange(min=0.1, max=600), default=None,
              metavar="SECONDS", help="Deadline of each round [default: project "
              "health.deadline].")
@click.option("--history", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help="Also append every round to this JSON-lines history "
              "(read at start for the charts).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write the report files into this folder after every round.")
@click.option("--identity", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help="age identity of the health runner [default: "
              "$HZNCTL_AGE_KEY_FILE, $SOPS_AGE_KEY_FILE].")
@click.option("--workers", type=click.IntRange(min=1, max=8), default=1, show_default=True,
              help="Probe processes per round (more for thousands of connections).")
@click.option("--chart-runs", type=click.IntRange(min=2, max=2000), default=CHART_RUNS,
              show_default=True, metavar="N",
              help="Rounds the dashboard's trends keep in memory (memory grows with them "
              "until the window is full, then stays flat).")
@click.option("--no-notify", is_flag=True, help="Do not send notifications.")
def serve(path: Path, listen: str, interval: float, environments: tuple[str, ...],
          connections: tuple[str, ...], deadline: float | None, history: Path | None,
          out: Path | None, identity: Path | None, workers: int, chart_runs: int,
          no_notify: bool) -> int:
    """Monitor the inventory at PATH: probe on an interval and serve the results.

    Serves /metrics (Prometheus text of the last completed round; never waits on
    Redis), /healthz, the dashboard at /, /report.json, and /probe?target=NAME (probe
    one connection of the inventory now, like redis_exporter). Notifies on status
    changes between rounds. SIGHUP reloads the inventory (a broken one keeps the
    previous); SIGTERM stops.
    """
    from hznctl.health.monitor import MonitorOptions
    from hznctl.health.run import HealthOptions
    from hznctl.health.serve import serve as run_server

    host, port = _listen(listen)
    options = MonitorOptions(
        HealthOptions(path, Path("."), environments, connections, deadline, history, identity,
                      notify=not no_notify),
        interval=interval, out=out, workers=workers, chart_runs=chart_runs)

    def ready(url: str) -> None:
        click.echo(f"hznctl health serve: listening on {url}", err=True)

    from hznctl.errors import InventoryError

    try:
        run_server(options, host, port, on_ready=ready)
    except InventoryError as exc:
        from hznctl.cli.output import diagnostics_to_stderr

        diagnostics_to_stderr(exc.diagnostics)
        raise
    except OSError as exc:
        from hznctl.errors import UsageError

        raise UsageError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    return 0
