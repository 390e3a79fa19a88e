"""`hznctl status`."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from hznctl.cli.deploy import make_address, supervisor_options
from hznctl.cli.options import shown
from hznctl.cli.output import format_option, show
from hznctl.deploy.status import HostStatus
from hznctl.errors import HznctlError


def render_text(status: HostStatus) -> str:
    """Every value escaped for the terminal: names and findings come from the host."""
    from hznctl.escape import terminal as t

    head = (f"host {t(str(status.host))}: bundle {t(status.bundle or '')}"
            + (f" (revision {t(status.revision)})" if status.revision else "")
            + f", {status.groups} group(s), {status.processes} process(es)")
    lines = [head if status.bundle else "no bundle installed"]
    lines += [f"  {t(str(finding))}" for finding in status.findings]
    lines.append("in sync" if status.in_sync else f"drift: {len(status.findings)} finding(s)")
    return "\n".join(lines) + "\n"


@click.command()
@supervisor_options
@click.option("--no-reread", is_flag=True,
              help="Do not ask supervisord to re-read its files (skips the pending-reload "
                   "check).")
@click.option("--host", "host", metavar="NAME",
              help="This machine's name in the inventory, checked against <state-dir>/host.")
@format_option("host-status")
def status(supervisor_url: str | None, username: str | None, password_file: Path | None,
           state_dir: Path | None, include_dir: Path | None, no_reread: bool,
           host: str | None, output_format: str) -> int:
    """Compare the installed bundle with the live supervisord; exit 1 on drift.

    Reports programs missing, extra (only names hznctl manages), not RUNNING, configured
    differently from the bundle's manifest, program files not yet applied, and installed
    files changed on the host. Defaults for the address and folders come from the
    installed bundle's manifest. Refuses a bundle installed for another host.
    """
    from hznctl.bundle.manifest import SupervisordRef
    from hznctl.deploy.install import Installation
    from hznctl.deploy.status import host_status
    from hznctl.deploy.supervisor import Supervisor
    from hznctl.models.host import SupervisordSettings

    defaults: SupervisordSettings | SupervisordRef = SupervisordSettings()
    state = state_dir or Path(defaults.state_dir)
    if not state.is_dir():
        raise HznctlError(f"state directory {shown(state)} does not exist: nothing has "
                          "been deployed to this host (or give --state-dir, the host's "
                          "supervisord.state_dir)")
    installed = Installation(state, include_dir or Path(defaults.include_dir))
    ident = installed.current_id()
    if ident is not None:
        with contextlib.suppress(HznctlError):  # unreadable: reported as changed-on-host
            defaults = installed.manifest(ident).supervisord
    supervisor = Supervisor(make_address(supervisor_url or defaults.url, username,
                                         password_file))
    result = host_status(supervisor, state, include_dir or Path(defaults.include_dir),
                         reread=not no_reread, host=host)
    return show("host-status", output_format, result, ok=result.in_sync)
