"""hznctl's rq worker class (hznctl/support/hznctl_rq.py) with the real rq and redis-py
against a real redis-server: the pubsub thread is stopped without a stall.

rq 3.0 (rq/worker/base.py, Worker.unsubscribe) sends UNSUBSCRIBE, then calls
PubSubWorkerThread.stop(), which since redis-py 8 (redis/client.py) joins the thread with
no bound. If the thread has already read the UNSUBSCRIBE reply, its next
get_message(timeout=60) waits on subscribed_event (nothing is subscribed any more) for rq's
whole sleep_time. On a busy machine the thread often wins that race: a --max-jobs worker
then sits 60 s between its last job and its exit (seen on CI: 20 jobs through a recycling
group took more than 90 s instead of 8).
"""

from __future__ import annotations

import importlib.util
import inspect
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support import REPO, start_redis, wait_for

pytestmark = pytest.mark.integration

rq = pytest.importorskip("rq")


def _hznctl_rq() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "hznctl_rq_under_test", REPO / "hznctl" / "support" / "hznctl_rq.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[Any]:
    server = start_redis(tmp_path)
    try:
        yield server.client()
    finally:
        server.stop()


def _subscribed(worker: Any) -> Any:
    """Subscribe ``worker`` as rq does at start, and make its UNSUBSCRIBE return only once
    the pubsub thread has handled the reply: the interleaving a busy machine makes."""
    worker.subscribe()
    pubsub = worker.pubsub
    wait_for(lambda: pubsub.subscribed, timeout=10, what="the worker's channel subscribed")
    send = pubsub.unsubscribe

    def unsubscribe(*args: Any) -> Any:
        result = send(*args)
        wait_for(lambda: not pubsub.subscribed, timeout=10,
                 what="the pubsub thread handled the UNSUBSCRIBE reply")
        return result

    pubsub.unsubscribe = unsubscribe
    return worker.pubsub_thread


def test_the_pubsub_thread_ends_at_once_even_when_it_reads_the_reply_first(conn):
    worker = _hznctl_rq().Worker(["cycle"], connection=conn)
    thread = _subscribed(worker)
    began = time.monotonic()
    worker.unsubscribe()
    assert time.monotonic() - began < 5  # rq's join bound is 1 s; the stall would be 60 s
    assert not thread.is_alive()


def test_many_workers_stop_at_once_in_either_order(conn):
    """Without the forced interleaving too: whichever side wins, no stall."""
    module = _hznctl_rq()
    began = time.monotonic()
    for _ in range(20):
        worker = module.Worker(["cycle"], connection=conn)
        worker.subscribe()
        wait_for(lambda w=worker: w.pubsub.subscribed, timeout=10, what="subscribed")
        worker.unsubscribe()
        assert not worker.pubsub_thread.is_alive()
    assert time.monotonic() - began < 30


def test_rq_s_own_order_stalls_in_that_interleaving(conn):
    """The upstream behaviour the class works around. If this fails, rq or redis-py no
    longer stalls here, and hznctl_rq.Worker.unsubscribe can go."""
    from redis.client import PubSubWorkerThread

    if "timeout" not in inspect.signature(PubSubWorkerThread.stop).parameters:
        pytest.skip("this redis-py's stop() does not wait for the thread")
    worker = rq.Worker(["cycle"], connection=conn)
    thread = _subscribed(worker)
    stopping = threading.Thread(target=worker.unsubscribe, daemon=True)
    stopping.start()
    stopping.join(timeout=3)
    assert stopping.is_alive() and thread.is_alive()
