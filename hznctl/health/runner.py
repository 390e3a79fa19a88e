"""Probe every target concurrently: bounded concurrency, a deadline per check and per run.

A dead or hung Redis costs at most the check timeout and one probe slot; when the run's
deadline passes, the probes still running are cancelled and reported as down, those
never started as error (the runner, not the server, ran out of time). Nothing a server
does can raise out of here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from hznctl.health.grading import grade, summary
from hznctl.health.model import ConnectionHealth, Finding, Status, Timings
from hznctl.health.probe import ProbeOutcome, probe
from hznctl.health.targets import ProbeTarget

# Time kept back from the run's deadline to cancel the stragglers and write the reports.
CANCEL_GRACE = 0.25


@dataclass(frozen=True)
class RunSettings:
    deadline: float  # the whole run, seconds
    check_timeout: float  # one connection, seconds
    concurrency: int


OnResult = Callable[[ConnectionHealth], None]


def run_probes(targets: list[ProbeTarget], settings: RunSettings,
               on_result: OnResult | None = None) -> list[ConnectionHealth]:
    """Results in the order of ``targets``."""
    # Not asyncio.run: it waits for the default executor, where a name lookup that hangs
    # would hold the run past its deadline.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(probe_all(targets, settings, on_result))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def probe_all(targets: list[ProbeTarget], settings: RunSettings,
                    on_result: OnResult | None = None) -> list[ConnectionHealth]:
    loop = asyncio.get_running_loop()
    ends_at = loop.time() + max(settings.deadline - CANCEL_GRACE, 0.05)
    slots = asyncio.Semaphore(settings.concurrency)
    started: set[str] = set()
    results: dict[str, ConnectionHealth] = {}

    async def one(target: ProbeTarget) -> None:
        async with slots:
            remaining = ends_at - loop.time()
            if remaining <= 0:
                return
            started.add(target.name)
            result = await check(target, min(settings.check_timeout, remaining))
        results[target.name] = result
        if on_result is not None:
            on_result(result)

    tasks = [asyncio.create_task(one(t)) for t in targets]
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=max(ends_at - loop.time(), 0))
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=CANCEL_GRACE)
    for target in targets:
        if target.name not in results:
            result = _unfinished(target, target.name in started, settings.deadline)
            results[target.name] = result
            if on_result is not None:
                on_result(result)
    return [results[t.name] for t in targets]


async def check(target: ProbeTarget, budget: float) -> ConnectionHealth:
    """Probe and grade one connection."""
    started = time.perf_counter()
    if target.credential_error is not None:
        outcome = ProbeOutcome(Timings(), failure=Finding(
            check="credentials", status=Status.ERROR,
            message=f"password not decryptable: {target.credential_error}"))
    else:
        outcome = await probe(target, budget)
    status, findings = grade(outcome, target.thresholds)
    return _health(target, status, findings, outcome, time.perf_counter() - started)


def _health(target: ProbeTarget, status: Status, findings: list[Finding],
            outcome: ProbeOutcome, seconds: float) -> ConnectionHealth:
    return ConnectionHealth(
        connection=target.name, environment=target.connection.environment,
        endpoint=target.endpoint, tls=target.connection.tls.enabled,
        applications=list(target.applications), status=status,
        message=summary(status, findings), findings=findings,
        duration_ms=round(seconds * 1000, 3), timings=outcome.timings, server=outcome.server,
        queues=outcome.queues)


def _unfinished(target: ProbeTarget, started: bool, deadline: float) -> ConnectionHealth:
    if started:
        finding = Finding(check="deadline", status=Status.DOWN,
                          message=f"no answer before the run's deadline ({deadline:g} s)")
    else:
        finding = Finding(check="deadline", status=Status.ERROR,
                          message=f"not probed: the run's deadline ({deadline:g} s) passed "
                                  "while waiting for a free probe slot (raise "
                                  "health.concurrency or --deadline)")
    return _health(target, finding.status, [finding], ProbeOutcome(Timings(), failure=finding),
                   0.0)
