"""`hznctl new application|connection|host|worker`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import click

from hznctl.cli.options import labels_callback
from hznctl.inventory import display_path
from hznctl.models import Balance, Runtime
from hznctl.scaffold import objects
from hznctl.scaffold.staging import Applied, apply_checked
from hznctl.secrets.decrypt import Identities, default_identity_paths, load_identities

inventory_option = click.option(
    "-i", "--inventory", type=click.Path(file_okay=False, path_type=Path),
    default=Path("inventory"), show_default=True, help="The inventory folder to add to.")
identity_option = click.option(
    "--identity", "identity_files", multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="age identity that can read the secrets new readers need (default: "
    "$HZNCTL_AGE_KEY_FILE or $SOPS_AGE_KEY_FILE); they are re-encrypted for them.")


def _identities(paths: tuple[Path, ...]) -> Identities | None:
    chosen = list(paths) or default_identity_paths()
    return load_identities(chosen) if chosen else None


def _report(inventory: Path, applied: Applied) -> int:
    for relative in applied.written:
        click.echo(f"wrote {display_path(inventory / relative)}")
    for warning in applied.warnings:
        click.echo(f"warning: {warning.text()}", err=True)
    return 0


@click.group()
def new() -> None:
    """Add an application, connection, host or worker group to the inventory.

    Values come from the options, or from prompts for the required ones. The change is
    validated before anything is written, and an existing file is never overwritten.
    """


@new.command()
@click.argument("name")
@click.option("--environment", prompt=True, help="Environment (one of project.yaml's).")
@click.option("--label", "labels", multiple=True, callback=labels_callback, metavar="KEY=VALUE",
              help="A label worker groups select hosts by (repeatable).")
@click.option("--age-recipient", metavar="AGE",
              help="The host's age public key (`hznctl secrets keygen --host NAME`).")
@click.option("--description", help="One line about the host.")
@inventory_option
@identity_option
def host(name: str, environment: str, labels: dict[str, str], age_recipient: str | None,
         description: str | None, inventory: Path, identity_files: tuple[Path, ...]) -> int:
    """Add a worker host NAME (hosts/NAME.yaml)."""
    spec = objects.HostSpec(name, environment, labels, age_recipient, description)
    relative = objects.object_path("host", name)
    text = objects.document("host", objects.host_data(spec), inventory)
    applied = apply_checked(inventory, {relative: text}, new=frozenset({relative}),
                            identities=_identities(identity_files))
    return _report(inventory, applied)


@new.command()
@click.argument("name")
@click.option("--host", "redis_host", prompt="Redis host", help="Redis server's host name or IP.")
@click.option("--port", type=click.IntRange(1, 65535), default=6379, show_default=True,
              help="Redis server's port.")
@click.option("--database", type=click.IntRange(0, 15), default=0, show_default=True,
              help="Redis database number.")
@click.option("--username", help="ACL user name (default: none).")
@click.option("--environment", prompt=True, help="Environment (one of project.yaml's).")
@click.option("--tls", is_flag=True, help="Connect with TLS.")
@click.option("--description", help="One line about the connection.")
@click.option("--region", help="Where the server runs.")
@click.option("--provider", help="Who runs the server.")
@click.option("--no-password", is_flag=True, help="The server needs no password.")
@inventory_option
def connection(name: str, redis_host: str, port: int, database: int, username: str | None,
               environment: str, tls: bool, description: str | None, region: str | None,
               provider: str | None, no_password: bool, inventory: Path) -> int:
    """Add a Redis connection NAME (connections/NAME.yaml).

    The password is read from a hidden prompt on a terminal, otherwise from stdin, and is
    encrypted with `secrets set` into secrets/NAME.yaml: it is never written in clear.
    """
    spec = objects.ConnectionSpec(name, redis_host, environment, port, database, username,
                                  tls, description, region, provider)
    relative = objects.object_path("connection", name)
    text = objects.document("connection", objects.connection_data(spec), inventory)
    prepare: Callable[[Path], None] | None = None
    if not no_password:
        password = _read_password(name)

        def encrypt(staged: Path) -> None:
            from hznctl.secrets.manage import set_password

            set_password(staged, name, password)

        prepare = encrypt
    applied = apply_checked(inventory, {relative: text}, new=frozenset({relative}),
                            prepare=prepare)
    return _report(inventory, applied)


def _read_password(connection: str) -> str:
    from hznctl.errors import UsageError

    stream: TextIO | None = sys.stdin
    if stream is not None and stream.isatty():
        value: str = click.prompt(f"Password for {connection}", hide_input=True,
                                  confirmation_prompt=True, err=True)
    else:
        value = stream.read().removesuffix("\n").rstrip("\r") if stream else ""
    if not value:
        raise UsageError("no password on stdin or at the prompt (--no-password if the "
                         "server needs none)")
    return value


@new.command()
@click.argument("slug")
@click.option("--runtime", prompt=True, type=click.Choice([r.value for r in Runtime]),
              help="How its workers run.")
@click.option("--environment", prompt=True, help="Environment (one of project.yaml's).")
@click.option("--directory", prompt=True, help="Absolute working directory of the workers.")
@click.option("--connection", "connections", multiple=True, required=True, metavar="NAME",
              help="A Redis connection it uses (repeatable; the first is the primary).")
@click.option("--name", help="Display name (default: SLUG).")
@click.option("--description", help="One line about the application.")
@click.option("--user", help="Unix user the workers run as.")
@click.option("--key-prefix", help="Prefix of its Redis keys (Laravel).")
@click.option("--executable", help="Interpreter or worker binary (absolute path).")
@click.option("--app-module", help="Celery app (-A) or RQ worker class module.")
@click.option("--command", help="Command template (the command runtime).")
@inventory_option
def application(slug: str, runtime: str, environment: str, directory: str,
                connections: tuple[str, ...], name: str | None, description: str | None,
                user: str | None, key_prefix: str | None, executable: str | None,
                app_module: str | None, command: str | None, inventory: Path) -> int:
    """Add an application SLUG (applications/SLUG.yaml); add workers with `new worker`."""
    spec = objects.ApplicationSpec(slug, runtime, environment, directory, connections, name,
                                   description, user, key_prefix, executable, app_module,
                                   command)
    relative = objects.object_path("application", slug)
    text = objects.document("application", objects.application_data(spec), inventory)
    applied = apply_checked(inventory, {relative: text}, new=frozenset({relative}))
    return _report(inventory, applied)


@new.command()
@click.argument("application_slug", metavar="APPLICATION")
@click.argument("name")
@click.option("--queue", "queues", multiple=True, required=True, metavar="QUEUE",
              help="A queue to consume, in priority order (repeatable).")
@click.option("--connection", help="Bound connection to consume from (default: the primary).")
@click.option("--processes", type=click.IntRange(0, 1000),
              help="Number of processes (sets both --min-processes and --max-processes).")
@click.option("--min-processes", type=click.IntRange(0, 1000),
              help="Fewest processes (runtimes that scale: balance auto).")
@click.option("--max-processes", type=click.IntRange(0, 1000), help="Most processes.")
@click.option("--balance", type=click.Choice([b.value for b in Balance]),
              help="How processes are spread over the queues (default: off).")
@click.option("--tries", type=click.IntRange(0, 1000), help="Attempts per job.")
@click.option("--timeout", type=click.IntRange(0, 86400), help="Seconds a job may run.")
@click.option("--memory", type=click.IntRange(16, 65536), help="MB before a worker restarts.")
@click.option("--host", "hosts", multiple=True, metavar="HOST", help="Run on this host "
              "(repeatable).")
@click.option("--host-label", "host_labels", multiple=True, callback=labels_callback,
              metavar="KEY=VALUE", help="Run on every host with these labels (repeatable).")
@inventory_option
@identity_option
def worker(application_slug: str, name: str, queues: tuple[str, ...], connection: str | None,
           processes: int | None, min_processes: int | None, max_processes: int | None,
           balance: str | None, tries: int | None, timeout: int | None, memory: int | None,
           hosts: tuple[str, ...], host_labels: dict[str, str], inventory: Path,
           identity_files: tuple[Path, ...]) -> int:
    """Add worker group NAME to APPLICATION (appended to its applications/<slug>.yaml)."""
    from hznctl.scaffold.workers import add_worker_to_file

    if processes is not None:
        min_processes = min_processes if min_processes is not None else processes
        max_processes = max_processes if max_processes is not None else processes
    spec = objects.WorkerSpec(application_slug, name, queues, connection, balance,
                              min_processes, max_processes, tries, timeout, memory, hosts,
                              host_labels)
    relative, text = add_worker_to_file(inventory, spec)
    applied = apply_checked(inventory, {relative: text}, new=frozenset(),
                            identities=_identities(identity_files))
    return _report(inventory, applied)
