"""Probe every target concurrently: bounded concurrency, a deadline per check and per run.

A dead or hung Redis costs at most the check timeout and one probe slot; when the run's
deadline passes, the probes still running are cancelled and reported as down, those
never started as error (the runner, not the server, ran out of time). Nothing a server
does can raise out of here.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import multiprocessing.connection
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from hznctl.health.grading import grade, summary
from hznctl.health.model import ConnectionHealth, Finding, Status, Timings, worst
from hznctl.health.probe import (
    OpenProbe,
    ProbeOutcome,
    close_probe,
    open_probe,
    probe,
    sample_latency,
)
from hznctl.health.targets import Credentials, ProbeTarget, with_credentials
from hznctl.system import usable_cores

# PING samples in flight at once in the latency stage: few enough that the event loop
# answers each reply at once.
LATENCY_CONCURRENCY = 16
# Seconds without a finished opening after which the openings left are taken as hanging.
QUIET = 0.1
# Seconds before the run's deadline when latency is sampled even if some openings hang.
LATENCY_RESERVE = 0.5
# Time kept back from the run's deadline to cancel the stragglers and write the reports.
CANCEL_GRACE = 0.25


@dataclass(frozen=True)
class RunSettings:
    deadline: float  # the whole run, seconds
    check_timeout: float  # one connection, seconds
    concurrency: int
    # time.monotonic() when the run must be over: set when the run starts, and shared by
    # the forked workers (the clock is system-wide), so decrypting counts against it too.
    deadline_at: float | None = None

    def started(self) -> RunSettings:
        if self.deadline_at is not None:
            return self
        return replace(self, deadline_at=time.monotonic() + self.deadline)

    def remaining(self) -> float:
        assert self.deadline_at is not None
        return self.deadline_at - time.monotonic()


OnResult = Callable[[ConnectionHealth], None]


# From this many connections on, the probes are split over worker processes: one event
# loop saturates one core (and its own scheduling delay would show up as Redis latency).
SHARD_THRESHOLD = 200
MAX_WORKERS = 4


def default_workers(count: int) -> int:
    if count < SHARD_THRESHOLD or not hasattr(os, "fork"):
        return 1
    return max(1, min(usable_cores(), MAX_WORKERS, count // (SHARD_THRESHOLD // 2)))


def run_probes(targets: list[ProbeTarget], settings: RunSettings,
               on_result: OnResult | None = None, *, credentials: Credentials | None = None,
               workers: int | None = None) -> list[ConnectionHealth]:
    """Results in the order of ``targets``; passwords are decrypted where they are probed
    (in each worker, so a thousand decryptions use every core)."""
    count = default_workers(len(targets)) if workers is None else workers
    settings = settings.started()
    if count <= 1:
        return _run_loop(_decrypted(targets, credentials), settings, on_result)
    return _run_sharded(targets, settings, on_result, count, credentials)


def _decrypted(targets: list[ProbeTarget],
               credentials: Credentials | None) -> list[ProbeTarget]:
    return targets if credentials is None else with_credentials(targets, credentials)


def _run_loop(targets: list[ProbeTarget], settings: RunSettings,
              on_result: OnResult | None) -> list[ConnectionHealth]:
    # Not asyncio.run: it waits for the default executor, where a name lookup that hangs
    # would hold the run past its deadline.
    loop = _new_loop()
    try:
        return loop.run_until_complete(probe_all(targets, settings, on_result))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed: its event loop costs a fraction of asyncio's per socket
    operation, which is most of a probe's CPU time."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def _run_sharded(targets: list[ProbeTarget], settings: RunSettings,
                 on_result: OnResult | None, count: int,
                 credentials: Credentials | None) -> list[ConnectionHealth]:
    """Fork ``count`` workers, each probing every count-th target with its share of slots.

    Passwords reach the workers through the fork, never through a pipe or an argument.
    Results stream back as they come; a worker still alive after the deadline (plus a
    grace second) is killed and its missing connections are reported down.
    """
    context = multiprocessing.get_context("fork")
    shard_settings = replace(settings, concurrency=max(1, -(-settings.concurrency // count)))
    shards = [targets[i::count] for i in range(count)]
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    readers: list[Any] = []
    processes = []
    # What the workers inherit (the inventory, the targets) is frozen for the fork: their
    # collector never scans it, so it neither costs them CPU nor copies the pages it
    # would touch (the gc's own bookkeeping lives in every object's header).
    with contextlib.suppress(ImportError):  # once here, not again in every worker
        import uvloop  # noqa: F401
    gc.freeze()
    try:
        for shard in shards:
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(target=_worker,
                                      args=(shard, shard_settings, writer, credentials),
                                      daemon=True)
            process.start()
            writer.close()
            readers.append(reader)
            processes.append(process)
    finally:
        gc.unfreeze()
    assert settings.deadline_at is not None
    results = _collect(readers, settings.deadline_at + 1.0, on_result)
    for process in processes:
        if process.is_alive():
            process.kill()
        process.join(1.0)
    for index, shard in enumerate(shards):
        failed = processes[index].exitcode not in (0, None, -9)
        for target in shard:
            if target.name not in results:
                results[target.name] = (_worker_failed(target, processes[index].exitcode)
                                        if failed else
                                        _unfinished(target, True, settings.deadline))
                if on_result is not None:
                    on_result(results[target.name])
    return [results[t.name] for t in targets]


def _worker(shard: list[ProbeTarget], settings: RunSettings, writer: Any,
            credentials: Credentials | None) -> None:
    def send(result: ConnectionHealth) -> None:
        writer.send(result)

    try:
        _run_loop(_decrypted(shard, credentials), settings, send)
    finally:
        writer.close()


def _collect(readers: list[Any], ends_at: float,
             on_result: OnResult | None) -> dict[str, ConnectionHealth]:
    results: dict[str, ConnectionHealth] = {}
    open_readers = list(readers)
    while open_readers:
        remaining = ends_at - time.monotonic()
        if remaining <= 0:
            break
        ready: list[Any] = multiprocessing.connection.wait(open_readers, timeout=remaining)
        for reader in ready:
            try:
                result: ConnectionHealth = reader.recv()
            except (EOFError, OSError):
                open_readers.remove(reader)
                continue
            results[result.connection] = result
            if on_result is not None:
                on_result(result)
    for reader in readers:
        reader.close()
    return results


async def probe_all(targets: list[ProbeTarget], settings: RunSettings,
                    on_result: OnResult | None = None) -> list[ConnectionHealth]:
    """Two stages: open every connection (connect, AUTH, INFO, queues) with the project's
    concurrency, then sample PING latency on the open ones a few at a time, with the event
    loop otherwise quiet, so that the runner's own scheduling is not taken for Redis
    latency. Both stages share the run's deadline."""
    loop = asyncio.get_running_loop()
    settings = settings.started()
    ends_at = loop.time() + max(settings.remaining() - CANCEL_GRACE, 0.05)
    started: dict[str, float] = {}
    opened: dict[str, OpenProbe] = {}
    results: dict[str, ConnectionHealth] = {}

    def budget() -> float:
        return min(settings.check_timeout, ends_at - loop.time())

    def finish(target: ProbeTarget, outcome: ProbeOutcome, extra: Finding | None = None) -> None:
        seconds = time.perf_counter() - started.get(target.name, time.perf_counter())
        results[target.name] = graded(target, outcome, seconds, extra)
        if on_result is not None:
            on_result(results[target.name])

    slots = asyncio.Semaphore(settings.concurrency)
    queued = [0]  # openings waiting for a slot

    async def open_one(target: ProbeTarget) -> None:
        if target.credential_error is not None:
            finish(target, _credentials_failed(target))
            return
        queued[0] += 1
        async with slots:
            queued[0] -= 1
            if budget() <= 0:
                return
            started[target.name] = time.perf_counter()
            first = await open_probe(target, budget())
        if first.connection is None:
            finish(target, first.outcome)
        else:
            opened[target.name] = first

    quiet = asyncio.Semaphore(LATENCY_CONCURRENCY)

    async def sample_one(first: OpenProbe) -> None:
        async with quiet:
            if budget() <= 0:
                return
            outcome = await sample_latency(first, budget())
        finish(first.target, outcome)

    sampled: set[str] = set()

    async def sample_opened() -> None:
        batch = [p for name, p in opened.items() if name not in sampled]
        sampled.update(p.target.name for p in batch)
        await _stage([asyncio.create_task(sample_one(p)) for p in batch], loop, ends_at)

    openings = [asyncio.create_task(open_one(t)) for t in targets]
    # Sample latency when every connection is open, or as soon as the ones left hang (none
    # waits for a slot and none finished for a while), at the latest shortly before the
    # deadline; the hanging openings go on meanwhile.
    reserve = min(LATENCY_RESERVE, settings.deadline / 4)
    await _until_quiet(openings, loop, ends_at - reserve, lambda: queued[0] == 0)
    await sample_opened()
    await _stage(openings, loop, ends_at)
    await sample_opened()
    for name, first in opened.items():
        if name not in results:
            await close_probe(first)
            # Our deadline, not the server's fault: a note, not a warning.
            finish(first.target, first.outcome, Finding(
                check="latency", status=Status.OK,
                message="latency not measured before the run's deadline"))
    for target in targets:
        if target.name not in results:
            results[target.name] = _unfinished(target, target.name in started,
                                               settings.deadline)
            if on_result is not None:
                on_result(results[target.name])
    return [results[t.name] for t in targets]


async def _until_quiet(tasks: list[asyncio.Task[None]], loop: asyncio.AbstractEventLoop,
                       until: float, all_started: Callable[[], bool]) -> None:
    pending = {t for t in tasks if not t.done()}
    while pending and loop.time() < until:
        done, pending = await asyncio.wait(pending, timeout=min(QUIET, until - loop.time()))
        if not done and all_started():
            return


async def _stage(tasks: list[asyncio.Task[None]], loop: asyncio.AbstractEventLoop,
                 ends_at: float) -> None:
    """Wait for ``tasks`` until ``ends_at``; cancel what is left."""
    tasks = [t for t in tasks if not t.done()]
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=max(ends_at - loop.time(), 0))
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=CANCEL_GRACE)


async def check(target: ProbeTarget, budget: float) -> ConnectionHealth:
    """Probe and grade one connection on its own (both stages)."""
    started = time.perf_counter()
    if target.credential_error is not None:
        outcome = _credentials_failed(target)
    else:
        outcome = await probe(target, budget)
    return graded(target, outcome, time.perf_counter() - started)


def graded(target: ProbeTarget, outcome: ProbeOutcome, seconds: float,
           extra: Finding | None = None) -> ConnectionHealth:
    status, findings = grade(outcome, target.thresholds)
    if extra is not None:
        findings.append(extra)
        status = worst([status, extra.status])
    return _health(target, status, findings, outcome, seconds)


def _credentials_failed(target: ProbeTarget) -> ProbeOutcome:
    return ProbeOutcome(Timings(), failure=Finding(
        check="credentials", status=Status.ERROR,
        message=f"password not decryptable: {target.credential_error}"))


def _health(target: ProbeTarget, status: Status, findings: list[Finding],
            outcome: ProbeOutcome, seconds: float) -> ConnectionHealth:
    return ConnectionHealth(
        connection=target.name, environment=target.connection.environment,
        endpoint=target.endpoint, tls=target.connection.tls.enabled,
        applications=list(target.applications), status=status,
        message=summary(status, findings), findings=findings,
        duration_ms=round(seconds * 1000, 3), timings=outcome.timings, server=outcome.server,
        queues=outcome.queues)


def _worker_failed(target: ProbeTarget, exitcode: int | None) -> ConnectionHealth:
    finding = Finding(check="runner", status=Status.ERROR,
                      message=f"not probed: its probe worker failed (exit code {exitcode})")
    return _health(target, finding.status, [finding], ProbeOutcome(Timings(), failure=finding),
                   0.0)


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
