"""Building the bundles of many hosts on several cores.

The validated inventory is in memory once; forked workers see it as it is (no copy, no
second load). Hosts are cut into consecutive runs of about the same number of programs;
each worker builds the bundles of its run and sends them back pickled through a pipe,
while this process builds the first run. The bundles are then handed on in host order:
the result is the very same as one process building them all, byte for byte, and so is
the error when one fails (the first failing host's, as hosts are built in order).
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

from hznctl.bundle.manifest import HostBundle
from hznctl.errors import HznctlError
from hznctl.system import usable_cores

# Below this many programs a fork costs more than it saves.
MIN_PROGRAMS = 2000
MAX_JOBS = 8

BuildEach = Callable[[Sequence[str]], Iterator[tuple[str, HostBundle]]]


class WorkerDied(HznctlError):
    """A compile worker ended without sending its bundles."""


def default_jobs() -> int:
    return max(1, min(usable_cores(), MAX_JOBS))


def can_fork() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def runs(hosts: Sequence[str], weights: Sequence[int], parts: int) -> list[list[str]]:
    """``hosts`` cut into at most ``parts`` consecutive runs of about equal weight."""
    total = sum(weights)
    found: list[list[str]] = []
    current: list[str] = []
    done = 0
    for host, weight in zip(hosts, weights, strict=True):
        if current and len(found) < parts - 1:
            # Cut before this host when that leaves the run nearer its share.
            share = total * (len(found) + 1)
            if (done + weight) * parts - share > share - done * parts:
                found.append(current)
                current = []
        current.append(host)
        done += weight
        if len(found) < parts - 1 and done * parts >= total * (len(found) + 1):
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


def stream_in_parallel(build: BuildEach, hosts: Sequence[str], weights: Sequence[int],
                       jobs: int, received: Callable[[int], None] | None = None
                       ) -> Iterator[tuple[str, HostBundle]]:
    """``build(hosts)`` on up to ``jobs`` cores; the same bundles in the same order.

    This process builds the first run as it is asked for each bundle, then hands on each
    forked run's bundles once they are here (``received(n)`` told of their ``n`` hosts;
    the hosts built in this process are ``build``'s own to count). Leaving early (an
    error, or the caller stops asking) stops the forked builders."""
    if jobs <= 1 or len(hosts) < 2 or sum(weights) < MIN_PROGRAMS or not can_fork():
        yield from build(hosts)
        return
    first, *rest = runs(hosts, weights, jobs)
    workers = [_fork(build, run) for run in rest]
    done = False
    try:
        yield from build(first)
        for (reader, _), run in zip(workers, rest, strict=True):
            bundles = _receive(reader)
            reader.close()
            if received is not None:
                received(len(run))
            while bundles:  # each let go once handed on
                host = next(iter(bundles))
                yield host, bundles.pop(host)
        done = True
    finally:
        for reader, pid in workers:
            if not done:  # their bundles are not wanted any more
                os.kill(pid, signal.SIGKILL)
            reader.close()
            os.waitpid(pid, 0)


def _fork(build: BuildEach, hosts: list[str]) -> tuple[BinaryIO, int]:
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the worker: build, send, and leave without running the parent's exits
        os.close(read_end)
        status = 0
        try:
            try:
                data = pickle.dumps(("bundles", dict(build(hosts))),
                                    protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # sent to the parent, raised there
                try:
                    data = pickle.dumps(("error", exc))
                except Exception:  # an exception that cannot travel: its message can
                    data = pickle.dumps(("error", HznctlError(str(exc))))
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
        except BaseException:  # the parent reports a worker that sent nothing
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    return os.fdopen(read_end, "rb"), pid


def _receive(reader: BinaryIO) -> dict[str, HostBundle]:
    try:
        kind, payload = pickle.load(reader)
    except (EOFError, pickle.UnpicklingError) as exc:
        raise WorkerDied(f"a compile worker ended without its bundles ({exc}); "
                         "run again with --jobs 1 to compile in one process") from None
    if kind == "error":
        assert isinstance(payload, BaseException)
        raise payload
    assert isinstance(payload, dict)
    return payload
