"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

DEFAULT_INVENTORY = "inventory"
F = TypeVar("F", bound=Callable[..., Any])

inventory_argument = click.argument(
    "path",
    required=False,
    default=DEFAULT_INVENTORY,
    type=click.Path(file_okay=False, path_type=Path),
)


def format_option(*choices: str, default: str = "text") -> Callable[[F], F]:
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help="Output format.",
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
