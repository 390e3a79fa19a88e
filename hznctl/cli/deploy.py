"""`hznctl deploy`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from hznctl.cli.options import absolute_path
from hznctl.cli.output import format_option, show
from hznctl.deploy.record import DeployRecord, append
from hznctl.deploy.supervisor import Address
from hznctl.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])
DIR = click.Path(file_okay=False, path_type=Path)


def supervisor_options(func: F) -> F:
    """The supervisord address and the folders hznctl owns (defaults: the bundle's manifest)."""
    options = [
        click.option("--supervisor-url", metavar="URL",
                     help="unix:///path/to.sock or http(s)://host:port (default: manifest)."),
        click.option("--username", metavar="U", help="supervisord [unix|inet]_http_server user."),
        click.option("--password-file", metavar="F",
                     type=click.Path(dir_okay=False, exists=True, path_type=Path),
                                     callback=absolute_path,
                     help="File holding the supervisord password (never pass it on argv)."),
        click.option("--state-dir", type=DIR,
                     callback=absolute_path, help="Where bundles and records live."),
        click.option("--include-dir", type=DIR, callback=absolute_path,
                     help="Folder of supervisord's [include] glob holding hznctl's links."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def make_address(url: str, username: str | None, password_file: Path | None,
                 timeout: float = 30.0) -> Address:
    password = None
    if password_file is not None:
        password = password_file.read_text(encoding="utf-8").rstrip("\r\n")
        if password:
            from hznctl.redact import remember

            # Kept out of every output: a server may echo it (a fault, an HTTP reason),
            # alone or as the basic credentials it was sent in.
            remember(password)
            if username is not None:
                remember(f"{username}:{password}")
    if (username is None) != (password is None):
        raise UsageError("--username and --password-file go together")
    return Address(url, username, password, timeout)


def render_text(record: DeployRecord) -> str:
    """A deploy's or a restart's record for the terminal; every value escaped (names and
    reasons come from the inventory and the host)."""
    from hznctl.escape import terminal as t

    lines = [f"host {t(record.host)}: bundle {t(record.bundle)}"
             + (f" (revision {t(record.revision)})" if record.revision else "")]
    lines += _restart_lines(record) if record.command == "restart" else _deploy_lines(record)
    lines.append(f"result: {record.result} in {record.durations.get('total', 0):.2f}s")
    return "\n".join(lines) + "\n"


def _deploy_lines(record: DeployRecord) -> list[str]:
    from hznctl.escape import terminal as t

    lines = []
    if record.recovered:
        lines.append(f"  recovered an interrupted deploy ({t(str(record.recovered.get('from')))}"
                     f" → {t(str(record.recovered.get('to')))})")
    for kind in ("added", "changed", "removed"):
        names = record.plan.get(kind, [])
        if names:
            lines.append(f"  {kind}: {', '.join(map(t, names))}")
    for name, why in record.plan.get("why", {}).items():
        lines.append(f"    {t(name)}: {t(why)}")
    if record.repaired:
        lines.append(f"  put back as staged: {', '.join(t(r) for r in record.repaired)}")
    lines.append(f"  unchanged: {len(record.plan.get('unchanged', []))} group(s)")
    restarted = record.actions.get("added", [])
    if restarted:
        lines.append(f"  started: {', '.join(map(t, restarted))}")
    return lines


def _restart_lines(record: DeployRecord) -> list[str]:
    from hznctl.escape import terminal as t

    lines = [f"  application {t(record.plan['application'])}: "
             f"{len(record.plan['restart'])} group(s), one at a time"]
    durations = record.actions.get("durations", {})
    for name in record.actions.get("restarted", []):
        lines.append(f"  restarted: {t(name)} ({durations.get(name, 0):.2f}s)")
    if record.actions.get("failed"):
        lines.append(f"  failed: {t(str(record.actions['failed']))}")
    for name in record.actions.get("not_restarted", []):
        lines.append(f"  not restarted: {t(name)}")
    return lines


def failure(record: DeployRecord) -> str:
    """Why a deploy or a restart failed, and what was done about it."""
    if record.command == "restart":
        return f"restart failed: {record.error}"
    message = f"deploy failed: {record.error}"
    if record.result == "rolled-back":
        return message + ("\nrolled back to the previous bundle "
                          f"({record.previous_bundle or 'none: the host had no bundle'})")
    return message + f"\nrollback failed too: {record.rollback_error}"


def report(record: DeployRecord, output_format: str) -> int:
    """Show a deploy's or a restart's record; a failure also as an error on stderr."""
    code = show("deploy-record", output_format, record, ok=record.ok)
    if not record.ok:
        from hznctl.cli.main import shown

        click.echo(f"hznctl: error: {shown(failure(record))}", err=True)
    return code


@click.command()
@click.argument("bundle", type=click.Path(file_okay=False, exists=True, path_type=Path),
                callback=absolute_path)
@supervisor_options
@click.option("--timeout", type=click.FloatRange(min=0), metavar="S",
              help="Seconds to wait for new processes to be RUNNING (default 30 + startsecs).")
@click.option("--settle", type=click.FloatRange(min=0), default=3.0, show_default=True,
              metavar="S", help="Seconds started processes must stay RUNNING (same PID) "
              "after reaching it, or the deploy rolls back; 0 disables.")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=60.0, show_default=True,
              metavar="S", help="Seconds to wait for another deploy to finish.")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--host", "host", metavar="NAME",
              help="This machine's name in the inventory: checked against <state-dir>/host, "
              "and written there by the first deploy (the host's set-up). A bundle for "
              "another host is refused.")
@format_option("deploy-record")
@click.option("--record", "record_file", type=click.Path(dir_okay=False, path_type=Path),
              callback=absolute_path,
              help="JSON-lines deploy log (default: <state-dir>/deploys.jsonl).")
def deploy(bundle: Path, supervisor_url: str | None, username: str | None,
           password_file: Path | None, state_dir: Path | None, include_dir: Path | None,
           timeout: float | None, settle: float, lock_timeout: float, dry_run: bool,
           host: str | None, output_format: str, record_file: Path | None) -> int:
    """Converge this host's supervisord to BUNDLE (one host's folder from `hznctl compile`).

    Takes the host's deploy lock, plans against the bundle installed now, stages the new
    bundle under <state-dir>/bundles/, switches <state-dir>/current to it in one rename,
    then stops and re-adds only the worker groups that changed (gracefully: stop signal,
    stopwaitsecs), waits until their processes are RUNNING and watches them stay so for
    --settle seconds (a worker that crashes just after startsecs). If they fail, the previous
    bundle is restored and re-applied and the exit code is 1. Unchanged groups keep their
    processes. Program files reach supervisord as links in the include folder, so its
    supervisord.conf must include them, e.g. `[include] files = <include-dir>/*.conf`.

    Installed bundles are verified file by file at every deploy: whatever was changed by
    hand is put back and its groups restarted (the plan says why). The first deploy on a
    machine needs --host NAME (its name in the inventory), kept in <state-dir>/host; a
    bundle for another host is refused.
    """
    from hznctl.bundle.manifest import read_manifest
    from hznctl.deploy.run import DeployRequest
    from hznctl.deploy.run import deploy as run_deploy

    if record_file is not None and record_file.is_symlink():
        raise UsageError(f"--record {record_file} is a symbolic link; hznctl never writes "
                         "through one")
    manifest = read_manifest(bundle)
    settings = manifest.supervisord
    state = state_dir or Path(settings.state_dir)
    request = DeployRequest(
        bundle=bundle,
        address=make_address(supervisor_url or settings.url, username, password_file),
        state_dir=state, include_dir=include_dir or Path(settings.include_dir),
        timeout=timeout, lock_timeout=lock_timeout, dry_run=dry_run, settle=settle, host=host)
    record = run_deploy(request, manifest)
    if not dry_run:
        append(record_file or state / "deploys.jsonl", record)
    return report(record, output_format)
