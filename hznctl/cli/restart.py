"""`hznctl restart`."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from hznctl.cli.deploy import make_address, report, supervisor_options
from hznctl.cli.output import format_option
from hznctl.deploy.record import append


@click.command()
@click.argument("application")
@click.option("--group", "groups", multiple=True, metavar="G",
              help="Only this worker group (its worker name or group name); repeatable.")
@click.option("--bundle", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="This host's compiled bundle, to take the supervisord address and the "
              "folders from (default: /var/lib/hznctl, then the installed bundle).")
@supervisor_options
@click.option("--host", "host", metavar="NAME",
              help="This machine's name in the inventory, checked against <state-dir>/host.")
@click.option("--timeout", type=click.FloatRange(min=0), metavar="S",
              help="Seconds to wait for a group's processes to be RUNNING again "
              "(default 30 + startsecs).")
@click.option("--settle", type=click.FloatRange(min=0), default=3.0, show_default=True,
              metavar="S", help="Seconds a restarted group must stay RUNNING (same PIDs) "
              "before the next one is restarted; 0 disables.")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=60.0, show_default=True,
              metavar="S", help="Seconds to wait for a deploy to finish.")
@format_option("deploy-record")
@click.option("--record", "record_file", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON-lines deploy log (default: <state-dir>/deploys.jsonl).")
def restart(application: str, groups: tuple[str, ...], bundle: Path | None,
            supervisor_url: str | None,
            username: str | None, password_file: Path | None, state_dir: Path | None,
            include_dir: Path | None, host: str | None, timeout: float | None,
            settle: float, lock_timeout: float, output_format: str,
            record_file: Path | None) -> int:
    """Restart APPLICATION's workers on this host (after a release of its code).

    One worker group at a time: a graceful stop (stop signal, then stopwaitsecs, so running
    jobs finish), a start, then a wait until every process is RUNNING and has stayed so for
    --settle seconds before the next group. The first group that does not come back stops
    the restart (exit 1; nothing is rolled back). Only this application's groups are
    touched, through this host's supervisord: never a queue-wide signal such as
    `horizon:terminate` or `queue:restart`, which reaches every application sharing the
    cache. Appends a record (command "restart") to the deploy log.
    """
    from hznctl.bundle.manifest import SupervisordRef, read_manifest
    from hznctl.deploy.install import Installation
    from hznctl.deploy.restart import RestartRequest
    from hznctl.deploy.restart import restart as run_restart
    from hznctl.errors import HznctlError, UsageError
    from hznctl.models.host import SupervisordSettings

    if record_file is not None and record_file.is_symlink():
        raise UsageError(f"--record {record_file} is a symbolic link; hznctl never writes "
                         "through one")
    defaults: SupervisordSettings | SupervisordRef = SupervisordSettings()
    if bundle is not None:
        defaults = read_manifest(bundle).supervisord
    state = state_dir or Path(defaults.state_dir)
    installed = Installation(state, include_dir or Path(defaults.include_dir))
    ident = installed.current_id()
    if ident is not None and bundle is None:
        with contextlib.suppress(HznctlError):  # refused with the reason by the restart
            defaults = installed.manifest(ident).supervisord
    request = RestartRequest(
        application=application, groups=groups,
        address=make_address(supervisor_url or defaults.url, username, password_file),
        state_dir=state, include_dir=include_dir or Path(defaults.include_dir), host=host,
        timeout=timeout, settle=settle, lock_timeout=lock_timeout)
    record = run_restart(request)
    append(record_file or state / "deploys.jsonl", record)
    return report(record, output_format)
