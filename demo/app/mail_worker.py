"""The demo's custom worker (the `command` runtime): pops messages from its queues, plain
Redis lists in priority order, and records each one. Stops between messages on SIGTERM,
so a graceful stop never cuts a message short.

Usage: mail_worker.py QUEUE[,QUEUE...]   (REDIS_URL comes from `hznctl exec`)
"""

from __future__ import annotations

import os
import signal
import sys

import redis

stopping = False


def _stop(*_: object) -> None:
    global stopping
    stopping = True


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    connection = redis.Redis.from_url(os.environ["REDIS_URL"])
    queues = sys.argv[1].split(",")
    while not stopping:
        item = connection.blpop(queues, timeout=1)
        if item is not None:
            queue, message = item
            connection.rpush("demo:done",
                             f"{message.decode()} from {queue.decode()} by pid {os.getpid()}")


if __name__ == "__main__":
    main()
