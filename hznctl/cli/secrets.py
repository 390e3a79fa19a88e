"""`hznctl secrets …`: age keys, connection passwords, recipients, rotation, status."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NamedTuple

import click

from hznctl.cli.keys import identities
from hznctl.cli.options import (
    DEFAULT_INVENTORY,
    absolute,
    absolute_path,
    inventory_argument,
    inventory_folder,
    shown,
)
from hznctl.cli.output import Printed, format_option, show
from hznctl.errors import UsageError
from hznctl.escape import terminal
from hznctl.secrets.decrypt import Identities

identity_option = click.option(
    "--identity", "identity_files", multiple=True,
    type=click.Path(dir_okay=False, path_type=Path), callback=absolute_path,
    help="age identity file that can decrypt the files (default: $HZNCTL_AGE_KEY_FILE, "
    "$SOPS_AGE_KEY_FILE or sops' keys.txt). Needed by sync, rotate and set on shared files.")


def _identities(paths: tuple[Path, ...]) -> Identities | None:
    return identities(paths)


@click.group()
def secrets() -> None:
    """Manage secrets: SOPS files encrypted for the age keys of hosts and the health runner.

    Passwords are read from stdin or a hidden prompt, never from arguments; the real sops
    binary encrypts them for exactly the keys that need them.
    """


@secrets.command()
@click.argument("path", required=False, default=DEFAULT_INVENTORY,
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", "host", help="Make the key of this host.")
@click.option("--runner", is_flag=True, help="Make a key of the health runner.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              callback=absolute_path,
              help="Where to write the private key (mode 0600). Keep it out of git.")
@click.option("--write", is_flag=True,
              help="Also record the public key in the inventory (the host's age_recipient, "
              "or project.yaml health.recipients).")
@click.option("--force", is_flag=True, help="Overwrite an existing key file.")
def keygen(path: Path, host: str | None, runner: bool, out: Path, write: bool,
           force: bool) -> int:
    """Make an age identity for a host or the health runner; print its public key.

    On a new host: `hznctl secrets keygen --host NAME --out /etc/hznctl/age.key` (no
    inventory needed); its public key is the host's age_recipient. With --write, PATH is
    the inventory to record it in.
    """
    from hznctl.secrets.edit import add_health_recipient, set_top_level_scalar
    from hznctl.secrets.manage import generate_identity

    if bool(host) == runner:
        raise UsageError("give exactly one of --host NAME or --runner")
    # Only --write needs the inventory: on a new host there is none.
    path = inventory_folder(path) if write else absolute(path)
    host_file = path / "hosts" / f"{host}.yaml"
    if write and host and not host_file.is_file():
        raise UsageError(f"no host file {host_file}")
    recipient = generate_identity(out, force=force)
    click.echo(recipient)
    click.echo(f"wrote the private key to {shown(out)} (mode 0600); install it on the "
               f"{'host' if host else 'health runner'}, never commit it", err=True)
    if write:
        target = host_file if host else path / "project.yaml"
        changed = (set_top_level_scalar(host_file, "age_recipient", recipient) if host
                   else add_health_recipient(target, recipient))
        if changed:
            click.echo(f"recorded the public key in {shown(target)}; now run "
                       "`hznctl secrets sync`", err=True)
    return 0


def _read_password(connection: str) -> str:
    if sys.stdin is not None and sys.stdin.isatty():
        value: str = click.prompt(f"Password for {connection}", hide_input=True,
                                  confirmation_prompt=True, err=True)
        return value
    text = sys.stdin.read() if sys.stdin is not None else ""
    return text[:-1] if text.endswith("\n") else text


@secrets.command(name="set")
@click.argument("connection")
@inventory_argument
@click.option("--file", "file", help="SOPS file for a connection without a password yet "
              "(default: secrets/<connection>.yaml).")
@click.option("--key", "key", help="Key in that file (default: password).")
@identity_option
def set_command(connection: str, path: Path, file: str | None, key: str | None,
                identity_files: tuple[Path, ...]) -> int:
    """Encrypt a new password for CONNECTION, read from stdin or a hidden prompt.

    The file is encrypted for every host that runs a worker using the connection and for
    the health runner. A connection without a password reference gets one.
    """
    from hznctl.secrets.manage import set_password

    value = _read_password(connection).rstrip("\r")
    if not value:
        raise UsageError("no password given on stdin or at the prompt")
    result = set_password(path, connection, value, file=file, key=key,
                          identities=_identities(identity_files))
    who = ", ".join(sorted(r.who for r in result.readers))
    click.echo(f"{'created' if result.created else 'updated'} {result.file} ({result.key}) "
               f"for {len(result.readers)} recipient(s): {who}")
    if result.reference_added:
        click.echo(f"connections/{connection}.yaml now refers to {result.file}")
    for host in result.hosts_without_recipient:
        click.echo(f"warning: host {host} has no age_recipient and cannot read it "
                   f"(`hznctl secrets keygen --host {host} --out {host}.agekey --write`)", err=True)
    return 0


@secrets.command()
@inventory_argument
@identity_option
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if anything is out of date.")
@format_option("secrets-sync")
def sync(path: Path, identity_files: tuple[Path, ...], check: bool,
         output_format: str) -> int:
    """Write .sops.yaml from the inventory and re-key files whose recipients changed."""
    from hznctl.secrets.manage import sync_files

    identities = None if check else _identities(identity_files)
    config_changed, changes = sync_files(path, identities=identities, dry_run=check)
    pending = config_changed or any(c.action != "unchanged" for c in changes)
    return show("secrets-sync", output_format, Synced(path, check, config_changed, changes),
                ok=not (check and pending))


class Synced(NamedTuple):
    path: Path
    check: bool
    config_changed: bool
    changes: list[Any]


def render_sync_json(synced: Synced) -> str:
    return json.dumps({"sops_config_changed": synced.config_changed,
                       "files": [c.__dict__ for c in synced.changes]}, indent=2,
                      sort_keys=True) + "\n"


def render_sync_text(synced: Synced) -> Printed:
    printed, check, changes = Printed(), synced.check, synced.changes
    if synced.config_changed:
        printed.out(f"{'would write' if check else 'wrote'} {shown(synced.path / '.sops.yaml')}\n")
    for change in changes:
        counts = [f"{len(change.added)} recipient(s) added" if change.added else "",
                  f"{len(change.removed)} removed" if change.removed else ""]
        detail = ", ".join(c for c in counts if c)
        printed.out(f"{terminal(str(change.file))}: {change.action}"
                    + (f" ({detail})" if detail else "") + "\n")
    if any(c.removed for c in changes) and not check:
        printed.err("recipients were removed: they still know the old data key; run "
                    "`hznctl secrets rotate --all` (and rotate the passwords if they "
                    "must not know those either)\n")
    return printed


@secrets.command()
@inventory_argument
@click.option("--connection", "connections", multiple=True,
              help="Rotate this connection's secret file (repeatable).")
@click.option("--all", "all_files", is_flag=True, help="Rotate every referenced secret file.")
@click.option("--password", is_flag=True,
              help="Also set a new password (one connection; read like `secrets set`).")
@identity_option
def rotate(path: Path, connections: tuple[str, ...], all_files: bool, password: bool,
           identity_files: tuple[Path, ...]) -> int:
    """Give secret files a new data key (`sops rotate`), and optionally a new password."""
    from hznctl.secrets.manage import (
        connection_files,
        file_statuses,
        load_for_secrets,
        rotate_files,
        set_password,
    )

    if bool(connections) == all_files:
        raise UsageError("give --connection NAME (repeatable) or --all")
    if password and len(connections) != 1:
        raise UsageError("--password rotates one connection's password: give one --connection")
    identities = _identities(identity_files)
    if password:
        value = _read_password(connections[0]).rstrip("\r")
        if not value:
            raise UsageError("no password given on stdin or at the prompt")
        result = set_password(path, connections[0], value, identities=identities)
        click.echo(f"{terminal(str(result.file))}: new password and data key")
        return 0
    inventory = load_for_secrets(path)
    files = (connection_files(inventory, connections) if connections
             else [s.file for s in file_statuses(inventory) if s.problem is None])
    for change in rotate_files(path, files, identities=identities):
        click.echo(f"{terminal(str(change.file))}: {change.action}")
    return 0


@secrets.command()
@inventory_argument
@format_option("secrets-status")
def status(path: Path, output_format: str) -> int:
    """Show which secret files are out of date: missing or extra recipients, problems.

    Needs no key. Exit 1 when anything is out of date.
    """
    from hznctl.secrets.manage import (
        SOPS_CONFIG,
        file_statuses,
        load_for_secrets,
        sops_config_current,
    )

    inventory = load_for_secrets(path)
    statuses = file_statuses(inventory)
    config = path / SOPS_CONFIG
    config_ok = sops_config_current(path, inventory)
    ok = config_ok and all(s.up_to_date for s in statuses)
    return show("secrets-status", output_format, Statuses(ok, config, config_ok, statuses),
                ok=ok)


class Statuses(NamedTuple):
    ok: bool
    config: Path
    config_ok: bool
    files: list[Any]


def render_status_json(statuses: Statuses) -> str:
    return json.dumps({"up_to_date": statuses.ok, "sops_config_up_to_date": statuses.config_ok,
                       "files": [s.as_dict() for s in statuses.files]}, indent=2,
                      sort_keys=True) + "\n"


def render_status_text(statuses: Statuses) -> Printed:
    printed = Printed()
    for item in statuses.files:
        file = terminal(str(item.file))
        if item.problem is not None:
            printed.out(f"{file}: {terminal(item.problem)}\n")
            continue
        if item.up_to_date:
            printed.out(f"{file}: up to date ({len(item.needed)} recipient(s))\n")
            continue
        for reader in item.missing:
            printed.out(f"{file}: missing {terminal(reader.who)} ({terminal(reader.recipient)})\n")
        for recipient in item.extra:
            who = terminal(str(item.extra_who.get(recipient)))
            printed.out(f"{file}: extra {who} ({terminal(recipient)})\n")
    config = statuses.config
    if not statuses.config_ok:
        printed.out(f"{shown(config)}: {'out of date' if config.exists() else 'missing'}\n")
    if not statuses.ok:
        printed.err("run `hznctl secrets sync` to bring them up to date\n")
    return printed
