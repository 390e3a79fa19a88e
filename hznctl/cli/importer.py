"""`hznctl import supervisord|horizon`: bring an existing fleet into the inventory."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple

import click

from hznctl.cli.options import labels_callback
from hznctl.cli.output import Printed, format_option, show
from hznctl.inventory import display_path

inventory_option = click.option(
    "-i", "--inventory", type=click.Path(file_okay=False, path_type=Path),
    default=Path("inventory"), show_default=True, help="The inventory folder to import into.")
_URL_CREDENTIALS = re.compile(r"(://[^/@\s:]*:)[^/@\s]*@")


def _shown(text: str) -> str:
    """``text`` without the passwords this import found (the process-wide redactor knows
    them, in every encoding) nor any other password in a URL."""
    from hznctl.redact import redact

    return _URL_CREDENTIALS.sub(r"\1***@", redact(text))


def _env_files(paths: tuple[Path, ...]) -> dict[str, dict[str, str]]:
    from hznctl.importer.build import parse_env_file
    from hznctl.importer.source import _read_text

    found = {}
    for path in paths:
        folder = str(path.resolve().parent)
        found[folder] = parse_env_file(_read_text(path, display_path(path)))
    return found


@click.group(name="import")
def import_group() -> None:
    """Bring an existing fleet in: its supervisord files and Horizon config.

    Writes hosts, applications, worker groups and connections into the inventory (checked
    as `hznctl new` does: nothing is written unless the result validates), moves every
    password it finds into a SOPS file, says what it could not express, and shows how each
    imported program differs from what the first deploy will run.
    """


@import_group.command()
@click.argument("host")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@inventory_option
@click.option("--environment", metavar="ENV", help="The host's environment, when it is new.")
@click.option("--age-recipient", metavar="AGE", help="The new host's age public key.")
@click.option("--label", "labels", multiple=True, callback=labels_callback, metavar="KEY=VALUE",
              help="A label for the new host (repeatable).")
@click.option("--application", metavar="SLUG",
              help="Import every program into this application (default: by directory).")
@click.option("--connection", metavar="NAME",
              help="Consume from this existing connection (default: from each program's "
              "environment, command line or --env-file).")
@click.option("--env-file", "env_files", multiple=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="An application's .env file; its folder says which programs it is for "
              "(repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
@format_option("import")
def supervisord(host: str, files: tuple[Path, ...], inventory: Path, environment: str | None,
                age_recipient: str | None, labels: dict[str, str], application: str | None,
                connection: str | None, env_files: tuple[Path, ...], dry_run: bool,
                output_format: str) -> int:
    """Import HOST's supervisord FILES (its programs) into the inventory."""
    from hznctl.importer.build import Options
    from hznctl.importer.run import run_import
    from hznctl.secrets.decrypt import default_identity_paths, load_identities

    options = Options(host, environment, age_recipient, labels, application, connection,
                      _env_files(env_files))
    identity_paths = default_identity_paths()
    result = run_import(inventory, files, options, dry_run=dry_run,
                        identities=load_identities(identity_paths) if identity_paths else None)
    return show("import", output_format, Imported(host, inventory, dry_run, result))


class Imported(NamedTuple):
    """An import as the command shows it."""

    host: str
    inventory: Path
    dry_run: bool
    result: Any

    @property
    def warnings(self) -> list[Any]:
        return [*self.result.plan.warnings, *self.result.warnings]


def render_json(imported: Imported) -> str:
    result = imported.result
    return _shown(json.dumps({
        "dry_run": imported.dry_run, "written": result.written,
        "moved": [{"connection": m.connection, "from": m.where} for m in result.plan.moved],
        "warnings": [w.as_dict() for w in imported.warnings],
        "programs": [{"source": d.source, "from": d.where, "program": d.program,
                      "note": d.note or None,
                      "changes": [c.__dict__ for c in d.changes]}
                     for d in result.differences],
    }, indent=2, sort_keys=True)) + "\n"


def render_text(imported: Imported) -> Printed:
    from hznctl.escape import terminal

    def t(value: object) -> str:  # a value from the files read: redacted, then escaped
        return terminal(_shown(str(value)))

    result, printed = imported.result, Printed()
    verb = "would write" if imported.dry_run else "wrote"
    printed.out(f"read {len(result.plan.programs)} program(s) for host {t(imported.host)}\n")
    for relative in result.written:
        printed.out(f"{verb} {t(display_path(imported.inventory / relative))}\n")
    for moved in result.plan.moved:
        printed.out(f"moved the password of {t(moved.connection)} ({t(moved.where)}) into its "
                    "SOPS file\n")
    for warning in imported.warnings:
        printed.err(_shown(warning.text()) + "\n")
    for difference in result.differences:
        printed.out(f"\n[program:{t(difference.source)}] ({t(difference.where)}) → "
                    f"{t(difference.program)}\n")
        if difference.note:
            printed.out(f"  {t(difference.note)}\n")
        elif not difference.changes:
            printed.out("  the same as supervisord reads the original\n")
        for change in difference.changes:
            printed.out(f"  {t(change.field)}: {t(change.before)} → {t(change.after)}\n")
    return printed


@import_group.command()
@click.argument("application")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--env", "environment", required=True, metavar="NAME",
              help="The Horizon environment whose supervisors to import (e.g. production).")
@inventory_option
@click.option("--host", "hosts", multiple=True, metavar="NAME",
              help="Run the groups on this host (repeatable; default: the application's).")
@click.option("--env-file", "env_file", type=click.Path(dir_okay=False, exists=True,
                                                        path_type=Path),
              help="The application's .env file, for the env() values the config reads.")
def horizon(application: str, config: Path, environment: str, inventory: Path,
            hosts: tuple[str, ...], env_file: Path | None) -> int:
    """Import APPLICATION's Horizon supervisors from CONFIG (config/horizon.php)."""
    from hznctl.importer.build import parse_env_file
    from hznctl.importer.horizon import import_horizon
    from hznctl.importer.source import _read_text
    from hznctl.scaffold.staging import apply_checked

    values = parse_env_file(_read_text(env_file, str(env_file))) if env_file else {}
    writes, groups = import_horizon(inventory, application, config, environment,
                                    hosts=list(hosts), values=values)
    applied = apply_checked(inventory, writes, new=frozenset())
    for relative in applied.written:
        click.echo(f"wrote {display_path(inventory / relative)}")
    from hznctl.escape import terminal

    for worker in groups.workers:
        click.echo(f"worker group {terminal(str(worker['name']))}: queues "
                   f"{terminal(','.join(worker['queues']))}")
    for warning in [*groups.warnings, *applied.warnings]:
        click.echo(warning.text(), err=True)
    return 0
