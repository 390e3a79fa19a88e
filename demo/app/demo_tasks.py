"""The demo's RQ jobs: each records that a real worker ran it."""

from __future__ import annotations

import os

from rq import get_current_job


def record(token: str) -> str:
    job = get_current_job()
    assert job is not None
    job.connection.rpush("demo:done", f"{token} by pid {os.getpid()}")
    return token
