"""Options shared by several commands, and the one place paths from the command line are
made absolute: every path a command takes is resolved here, once, against the working
directory, so that the core (and the programs it runs, like sops, in other folders) never
depends on where hznctl was started."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from hznctl.errors import no_inventory

DEFAULT_INVENTORY = "inventory"
F = TypeVar("F", bound=Callable[..., Any])


def absolute(path: Path) -> Path:
    """``path`` against the working directory (symbolic links are kept as they are)."""
    return Path(os.path.abspath(path))


def shown(path: Path) -> str:
    """A path in a message: relative when under the working directory, else absolute."""
    from hznctl.escape import terminal

    full = absolute(path)
    try:
        return terminal(str(full.relative_to(Path.cwd())))
    except ValueError:
        return terminal(str(full))


def inventory_folder(path: Path) -> Path:
    """The inventory folder ``path`` as an absolute path; the one check that it is there."""
    if not path.is_dir():
        raise no_inventory(str(path))
    return absolute(path)


def inventory_callback(ctx: click.Context, param: click.Parameter, value: Path | None
                       ) -> Path | None:
    return None if value is None else inventory_folder(value)


def absolute_path(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """The callback of every path option and argument: the path(s) made absolute."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(absolute(v) for v in value)
    return absolute(value)


inventory_argument = click.argument(
    "path",
    required=False,
    default=DEFAULT_INVENTORY,
    type=click.Path(file_okay=False, path_type=Path),
    callback=inventory_callback,
)


def jobs_option(func: F) -> F:
    return click.option(
        "--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
        help="Build host bundles in N processes (default: one per core, up to 8; "
             "small inventories always build in one).",
    )(func)


def labels_callback(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
                    ) -> dict[str, str]:
    """Repeated KEY=VALUE options as a mapping."""
    labels: dict[str, str] = {}
    for value in values:
        key, sep, label = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", ctx, param)
        labels[key] = label
    return labels
