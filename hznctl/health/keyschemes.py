"""Where each worker runtime keeps a queue in Redis, with the application's prefix.

* Laravel queue and Horizon (``Illuminate/Queue/RedisQueue.php``, ``LuaScripts.php``):
  waiting jobs in the list ``<prefix>queues:<q>`` (RPUSH, LPOP: the oldest at index 0),
  the sorted sets ``…:delayed`` and ``…:reserved``. The payload records ``pushedAt``
  (Horizon's ``JobPayload::prepare``) or ``createdAt`` (Laravel ≥ 11); Laravel 8 records
  neither, so its age is unknown. Failures go to a database table, not Redis.
* Horizon, in its own prefix (``RedisJobRepository``, ``RedisSupervisorRepository``,
  ``RedisMetricsRepository``, ``WaitTimeCalculator``): ``failed_jobs`` (a sorted set of all
  the application's failed jobs), ``supervisors`` and ``supervisor:<name>`` (its
  ``processes`` field maps ``connection:queue`` to a process count), ``queue:<q>`` (the
  ``throughput`` counter since the last snapshot and the average ``runtime`` in ms). The
  estimate is Horizon's: waiting × runtime ÷ processes (÷ 1 with no process).
* RQ (``rq/queue.py``, ``rq/registry.py``, ``rq/worker_registration.py``): the list
  ``rq:queue:<q>`` of job ids (RPUSH, LPOP), the job hash ``rq:job:<id>`` with
  ``enqueued_at``, the registries ``rq:scheduled:<q>``, ``rq:wip:<q>`` (started) and
  ``rq:failed:<q>``, and the set ``rq:workers:<q>`` of the workers listening.
* Celery through kombu (``kombu/transport/redis.py``: ``_q_for_pri``, ``_put``): one list
  per priority step, ``<q>`` and ``<q>\\x06\\x16<3|6|9>`` (LPUSH, BRPOP: the oldest at the
  tail). A message records no time it was sent; one with an ``eta`` that has passed has
  waited at least since then.
* The command runtime: the list ``<q>``, nothing else known.

Only waiting jobs count as backlog; delayed, reserved and failed ones are reported beside
them (``queues`` reads them all).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from hznctl.models import Runtime

CELERY_PRIORITY_STEPS = (0, 3, 6, 9)
CELERY_SEPARATOR = "\x06\x16"


class KeyType(StrEnum):
    LIST = "list"  # LLEN
    ZSET = "zset"  # ZCARD


@dataclass(frozen=True, order=True)
class QueueKey:
    """One Redis key holding part of a queue: its state is pending, delayed or reserved."""

    state: str
    key: str
    type: KeyType


def horizon_default_prefix(name: str) -> str:
    """Horizon's default ``horizon.prefix``: ``Str::slug(APP_NAME, '_') . '_horizon:'``."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return f"{slug}_horizon:"


@dataclass(frozen=True)
class QueueScheme:
    """The keys that hold one queue of one application, for its runtime."""

    runtime: Runtime
    queue: str
    waiting: tuple[str, ...]  # lists whose lengths add up to the waiting jobs
    oldest: tuple[str, int] | None = None  # list and index of each list's oldest element
    delayed: str | None = None  # sorted set
    reserved: str | None = None  # sorted set
    failed: str | None = None  # sorted set of this queue's failures
    workers: str | None = None  # set of the workers listening
    horizon_prefix: str | None = None

    @property
    def key(self) -> str:
        return self.waiting[0]

    @property
    def metrics(self) -> str | None:
        return None if self.horizon_prefix is None else f"{self.horizon_prefix}queue:{self.queue}"


def queue_scheme(runtime: Runtime, queue: str, key_prefix: str = "",
                 horizon_prefix: str | None = None) -> QueueScheme:
    if runtime in (Runtime.LARAVEL_QUEUE, Runtime.LARAVEL_HORIZON):
        base = f"{key_prefix}queues:{queue}"
        return QueueScheme(runtime, queue, (base,), (base, 0), f"{base}:delayed",
                           f"{base}:reserved",
                           horizon_prefix=horizon_prefix
                           if runtime is Runtime.LARAVEL_HORIZON else None)
    if runtime is Runtime.RQ:
        return QueueScheme(runtime, queue, (f"rq:queue:{queue}",), (f"rq:queue:{queue}", 0),
                           f"rq:scheduled:{queue}", f"rq:wip:{queue}", f"rq:failed:{queue}",
                           f"rq:workers:{queue}")
    if runtime is Runtime.CELERY:
        lists = tuple(queue if step == 0 else f"{queue}{CELERY_SEPARATOR}{step}"
                      for step in CELERY_PRIORITY_STEPS)
        return QueueScheme(runtime, queue, lists, (queue, -1))
    return QueueScheme(runtime, queue, (queue,))


def queue_keys(runtime: Runtime, queue: str, key_prefix: str = "") -> tuple[QueueKey, ...]:
    """The keys of waiting, delayed and reserved jobs; the first one holds the waiting jobs."""
    scheme = queue_scheme(runtime, queue, key_prefix)
    keys = [QueueKey("pending", scheme.key, KeyType.LIST)]
    if runtime in (Runtime.LARAVEL_QUEUE, Runtime.LARAVEL_HORIZON):
        assert scheme.delayed is not None and scheme.reserved is not None
        keys += [QueueKey("delayed", scheme.delayed, KeyType.ZSET),
                 QueueKey("reserved", scheme.reserved, KeyType.ZSET)]
    return tuple(keys)


def length_command(key: QueueKey) -> tuple[str, str]:
    return ("LLEN" if key.type is KeyType.LIST else "ZCARD", key.key)
