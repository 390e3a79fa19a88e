"""hznctl's worker class for rq: the worker group's timeout is the ceiling of every job's.

rq runs a job for the job's own timeout (``job_timeout`` at enqueue, else the queue's
default of 180 s), and has no worker-side limit. supervisord's stopwaitsecs is the group's
timeout plus a margin, so a job allowed to run longer would be killed by a graceful stop.
This class lowers each job's timeout to the group's (``HZNCTL_RQ_TIMEOUT``) before the work
horse starts it: a longer job fails with rq's own JobTimeoutException. It extends the
application's worker class when ``HZNCTL_RQ_WORKER_CLASS`` names one (else rq.Worker).

hznctl ships this file in each bundle (support/) and puts that folder on PYTHONPATH, so
the application's rq imports it as ``hznctl_rq.Worker``; it needs nothing but rq.
"""

from __future__ import annotations

import os
from typing import Any

from rq.utils import import_attribute
from rq.worker import Worker as _RqWorker


def _base() -> Any:
    name = os.environ.get("HZNCTL_RQ_WORKER_CLASS")
    return import_attribute(name) if name else _RqWorker


def ceiling() -> int:
    """The group's timeout in seconds; 0: jobs keep their own."""
    return int(os.environ.get("HZNCTL_RQ_TIMEOUT") or 0)


class Worker(_base()):  # type: ignore[misc]
    def execute_job(self, job: Any, queue: Any) -> Any:
        limit = ceiling()
        if limit > 0 and (job.timeout is None or job.timeout <= 0 or job.timeout > limit):
            job.timeout = limit
        return super().execute_job(job, queue)
