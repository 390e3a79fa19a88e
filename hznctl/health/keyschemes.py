"""Where each worker runtime keeps a queue in Redis, and how deep it is.

* Laravel (queue worker and Horizon): a list ``<key_prefix>queues:<name>`` of waiting jobs,
  and the sorted sets ``…:delayed`` (scheduled for later) and ``…:reserved`` (being run);
  ``key_prefix`` is Laravel's Redis ``options.prefix``.
* RQ: the list ``rq:queue:<name>``.
* Celery (Redis transport) and the command runtime: the list ``<name>``.

Only waiting jobs count as backlog; delayed and reserved ones are reported beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hznctl.models import Runtime


class KeyType(StrEnum):
    LIST = "list"  # LLEN
    ZSET = "zset"  # ZCARD


@dataclass(frozen=True, order=True)
class QueueKey:
    """One Redis key holding part of a queue: its state is pending, delayed or reserved."""

    state: str
    key: str
    type: KeyType


def queue_keys(runtime: Runtime, queue: str, key_prefix: str = "") -> tuple[QueueKey, ...]:
    """The keys that hold ``queue`` for ``runtime``; the first one holds the waiting jobs."""
    if runtime in (Runtime.LARAVEL_QUEUE, Runtime.LARAVEL_HORIZON):
        base = f"{key_prefix}queues:{queue}"
        return (QueueKey("pending", base, KeyType.LIST),
                QueueKey("delayed", f"{base}:delayed", KeyType.ZSET),
                QueueKey("reserved", f"{base}:reserved", KeyType.ZSET))
    if runtime is Runtime.RQ:
        return (QueueKey("pending", f"rq:queue:{queue}", KeyType.LIST),)
    return (QueueKey("pending", queue, KeyType.LIST),)


def length_command(key: QueueKey) -> tuple[str, str]:
    return ("LLEN" if key.type is KeyType.LIST else "ZCARD", key.key)
