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
