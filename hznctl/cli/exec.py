"""`hznctl exec --spec FILE -- worker argv…`: decrypt a worker's secrets, then become the worker.

The process replaces itself (``execvpe``): no parent lingers, so supervisord's signals go
straight to the worker, and the plaintext lives only in the worker's environment. A worker
that recycles itself (its spec's ``recycle``) runs as a child instead (``hznctl.recycle``).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from hznctl.cli.options import absolute_path
from hznctl.errors import HznctlError, UsageError


class WorkerNotStarted(HznctlError):
    """The worker's program could not be executed (like a shell's 126/127)."""

    exit_code = 127


@click.command(context_settings={"ignore_unknown_options": True,
                                 "allow_interspersed_args": False})
@click.option("--spec", "spec_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), callback=absolute_path,
              help="Exec spec written by `hznctl compile` (exec/<group>.json in the bundle).")
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def exec_command(spec_path: Path, argv: tuple[str, ...]) -> int:
    """Start a worker with its secrets: decrypt them with the host's age key and exec ARGV.

    The age identity comes from the spec (the host's key file) unless HZNCTL_AGE_KEY_FILE
    names another. Secrets are passed in the environment only, never as arguments.
    """
    from hznctl.secrets.worker_env import worker_environment

    if not argv:
        raise UsageError("nothing to run: give the worker's command after --")
    prepared = worker_environment(spec_path)
    for warning in prepared.warnings:
        click.echo(f"hznctl exec: warning: {warning}", err=True)
    try:
        if prepared.recycle is not None:
            from hznctl.recycle import run_recycling

            return run_recycling(argv, prepared.env, prepared.recycle)
        os.execvpe(argv[0], list(argv), prepared.env)
    except OSError as exc:
        raise WorkerNotStarted(f"cannot start the worker {argv[0]!r}: "
                               f"{exc.strerror or type(exc).__name__}") from None
    return 0  # pragma: no cover - execvpe does not return
