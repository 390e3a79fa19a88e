"""What a terminal gets and nothing else does: colour and progress bars.

Colour only on a terminal and never with NO_COLOR (https://no-color.org) or TERM=dumb; a
progress bar only on a terminal, outside CI, and only for runs long enough to need one
(large fleets): everywhere else the output is plain lines, the same bytes each time.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

import click

# From this many hosts (compile) or connections (health) on, a run shows a progress bar.
LARGE_FLEET = 50


def colour(stream: IO[str] | None = None) -> bool:
    """Whether text written to ``stream`` (default stdout) may carry colour."""
    stream = stream if stream is not None else sys.stdout
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def interactive() -> bool:
    """A person watching a terminal (stderr), not a CI log."""
    return sys.stderr.isatty() and not os.environ.get("CI")


class Progress:
    """A progress bar on stderr for a large run on a terminal; otherwise nothing at all."""

    def __init__(self, label: str, *, enabled: bool = True) -> None:
        self.label = label
        self.enabled = enabled and interactive()
        self.bar: Any = None

    def start(self, total: int) -> None:
        if self.enabled and total >= LARGE_FLEET:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr,
                                         show_pos=True, color=colour(sys.stderr))
            self.bar.__enter__()

    def advance(self, _done: object = None, steps: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(steps)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
