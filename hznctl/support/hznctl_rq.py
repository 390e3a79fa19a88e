"""hznctl's worker class for rq: the worker group's timeout is the ceiling of every job's.

rq runs a job for the job's own timeout (``job_timeout`` at enqueue, else the queue's
default of 180 s), and has no worker-side limit. supervisord's stopwaitsecs is the group's
timeout plus a margin, so a job allowed to run longer would be killed by a graceful stop.
This class lowers each job's timeout to the group's (``HZNCTL_RQ_TIMEOUT``) before the work
horse starts it: a longer job fails with rq's own JobTimeoutException. It extends the
application's worker class when ``HZNCTL_RQ_WORKER_CLASS`` names one (else rq.Worker).

It also stops the worker's pubsub thread in an order that cannot stall. rq 3.0's
``Worker.unsubscribe`` sends UNSUBSCRIBE and then calls ``PubSubWorkerThread.stop()``;
since redis-py 8 that waits for the thread to end. When the thread reads the UNSUBSCRIBE
reply before ``stop()`` clears its running flag (a busy machine makes that likely), it
loops into ``get_message(timeout=60)``, which, with nothing subscribed, waits on
``subscribed_event`` for rq's whole ``sleep_time``: the worker hangs for 60 s after its
last job, on every ``--max-jobs`` exit and every graceful stop (past stopwaitsecs,
supervisord kills it). Clearing the flag before UNSUBSCRIBE means the reply ends the thread.

hznctl ships this file in each bundle (support/) and puts that folder on PYTHONPATH, so
the application's rq imports it as ``hznctl_rq.Worker``; it needs nothing but rq.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from rq.utils import import_attribute
from rq.worker import Worker as _RqWorker


def _base() -> Any:
    name = os.environ.get("HZNCTL_RQ_WORKER_CLASS")
    return import_attribute(name) if name else _RqWorker


_BASE = _base()


def _clear_running(thread: Any) -> None:
    """Tell a PubSubWorkerThread to end after its current wait, without waiting for it."""
    if "timeout" in inspect.signature(thread.stop).parameters:
        thread.stop(timeout=0)  # redis-py 8: stop() joins the thread, here not at all
    else:
        thread.stop()  # before: stop() only clears the flag


def ceiling() -> int:
    """The group's timeout in seconds; 0: jobs keep their own."""
    return int(os.environ.get("HZNCTL_RQ_TIMEOUT") or 0)


class Worker(_BASE):  # type: ignore[misc,valid-type]
    def unsubscribe(self) -> None:
        """rq's Worker.unsubscribe (rq/worker/base.py), with the thread told to stop first."""
        thread = self.pubsub_thread
        if thread is None or _BASE.unsubscribe is not _RqWorker.unsubscribe:
            super().unsubscribe()  # nothing to stop, or the application's own
            return
        self.log.info("Worker %s: unsubscribing from channel %s", self.name,
                      self.pubsub_channel_name)
        _clear_running(thread)
        self.pubsub.unsubscribe()
        thread.join(timeout=1)
        self.pubsub.close()

    def execute_job(self, job: Any, queue: Any) -> Any:
        limit = ceiling()
        if limit > 0 and (job.timeout is None or job.timeout <= 0 or job.timeout > limit):
            job.timeout = limit
        return super().execute_job(job, queue)
