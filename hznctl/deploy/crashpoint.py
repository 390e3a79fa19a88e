"""Crash injection for tests: `HZNCTL_DEPLOY_CRASH_AT=<step>` kills the deploy at that step.

The process SIGKILLs itself — no cleanup, no finally blocks — exactly like a power cut or
an OOM kill, so the tests prove that the next deploy recovers from every step.
"""

from __future__ import annotations

import os
import signal

ENV = "HZNCTL_DEPLOY_CRASH_AT"


def reached(step: str) -> None:
    if os.environ.get(ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
