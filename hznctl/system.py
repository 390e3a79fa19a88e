"""What this process may use of the machine: its cores, the cycle collector's pauses, and
the output devices a log may name."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager

# The log targets that are devices, not files: a process may log to them, but supervisord
# cannot rotate them.
DEVICES = ("/dev/stdout", "/dev/stderr")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container or taskset
    narrows), not the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building large acyclic structures.

    Loading and compiling keep what they make (every file's data and model, every bundle):
    hundreds of thousands of objects the collector would rescan again and again for cycles
    that are not there — at 2,000 applications that doubled the load time and took a
    quarter of a compile. Reference counting still frees everything; leftover cycles go at
    the collector's next run.

    While paused, every new object piles up in the youngest generation, so the first
    collection after it would scan them all (a tenth of a second after validate at full
    size). Leaving, they are moved to the oldest generation instead (``freeze`` then
    ``unfreeze``: two list splices, no scan), which is what surviving that collection would
    have done; a full collection still sees them when its own thresholds call for one.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()
