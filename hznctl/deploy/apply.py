"""Converge supervisord to the installed program files, group by group, gracefully.

What to do comes from two sources that must agree: the plan (bundle against bundle, which
sees changes supervisord cannot — an exec spec or a secret behind an unchanged program
line) and supervisord's own `reloadConfig` diff (files against what runs, which sees what
a killed deploy left half done). Only groups hznctl manages are touched.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hznctl.bundle.manifest import GroupEntry
from hznctl.deploy import crashpoint
from hznctl.deploy.liveconfig import overridden
from hznctl.deploy.supervisor import STILL_RUNNING, Supervisor, SupervisorError
from hznctl.errors import HznctlError

STOPPED_STATES = frozenset({"STOPPED", "EXITED", "FATAL", "UNKNOWN"})
# supervisord sends SIGKILL after stopwaitsecs; this covers its tick and the reaping.
STOP_MARGIN = 15.0
POLL = 0.05
# The longest pause between two looks in the settle window (see watch_settle).
SETTLE_POLL_MAX = 0.5


class ApplyFailure(HznctlError):
    """supervisord did not reach the bundle's state (a reload fault, a failed start, a timeout)."""


class ConfigOverridden(HznctlError):
    """supervisord read a program to start otherwise than its file says (found before any
    group is stopped or added)."""


@dataclass(frozen=True)
class GroupTarget:
    """A worker group as the installed bundle wants it."""

    name: str
    processes: tuple[str, ...]
    startsecs: int
    stopwaitsecs: int
    # autostart=false: supervisord leaves it STOPPED until an operator starts it.
    autostart: bool = True


@dataclass
class Actions:
    """What was done to supervisord, by group name."""

    stopped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"stopped": self.stopped, "removed": self.removed, "added": self.added,
                "untouched": self.untouched,
                "durations": {k: round(v, 3) for k, v in self.durations.items()}}


def _by_group(processes: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for info in processes:
        groups.setdefault(str(info["group"]), []).append(info)
    return groups


def converge(supervisor: Supervisor, targets: dict[str, GroupTarget], known: dict[str, GroupTarget],
             managed: set[str], restart: set[str], fresh: set[str], *, timeout: float,
             wait: bool = True, settle: float = 0.0,
             expected: Mapping[str, GroupEntry] | None = None, here: str = "") -> Actions:
    """Apply the installed files: stop+remove groups gone or changed, add new or changed ones,
    then wait for their processes to be RUNNING and watch them stay so for ``settle`` seconds.

    ``restart``: groups the plan says changed; ``fresh``: groups the plan says are new;
    ``known``: every group of the bundles involved (for stop deadlines). What runs is read
    from supervisord's re-read diff rather than a process listing, which costs as much as
    the re-read itself on a host with hundreds of groups.

    ``expected``: the bundle's groups; when given, the groups to add must read as their
    files say (``here``: the include folder), or nothing is done (ConfigOverridden).
    """
    actions = Actions()
    started = time.monotonic()
    added, changed, removed = (set(names) for names in supervisor.reload_config())
    crashpoint.reached("reloaded")
    _check_included(supervisor, targets, fresh - added, removed)
    outdated = ((changed & managed) | (restart - added)) & set(targets)
    to_stop = sorted(outdated | (removed & managed))
    to_add = sorted(outdated | (added & set(targets)))
    if expected is not None and to_add:
        _check_read_as_written(supervisor, {g: expected[g] for g in to_add}, here)
    actions.durations["reload"] = time.monotonic() - started

    began = time.monotonic()
    stop_groups(supervisor, to_stop, known)
    actions.durations["stop"] = time.monotonic() - began
    for group in to_stop:
        remove_stopped(supervisor, group, known)
        actions.removed.append(group)
        crashpoint.reached(f"removed:{group}")
    actions.stopped = list(to_stop)
    for group in to_add:
        supervisor.add_group(group)
        actions.added.append(group)
        crashpoint.reached(f"added:{group}")
    actions.untouched = sorted(set(targets) - set(to_add))
    actions.durations["apply"] = time.monotonic() - began

    if wait and to_add:
        began = time.monotonic()
        pids = wait_running(supervisor, [targets[g] for g in to_add if targets[g].autostart],
                            timeout=timeout)
        actions.durations["wait"] = time.monotonic() - began
        if settle > 0:
            began = time.monotonic()
            watch_settle(supervisor, pids, settle)
            actions.durations["settle"] = time.monotonic() - began
    return actions


def _check_included(supervisor: Supervisor, targets: dict[str, GroupTarget],
                    suspicious: set[str], removed: set[str]) -> None:
    """Every target must be in supervisord's configuration. A target that runs but has no
    file is in ``removed``; a new one not ``added`` either runs already (a killed deploy
    added it) or is not read at all: only then is the process list worth asking for."""
    missing = set(targets) & removed
    if suspicious:
        running = {str(p["group"]) for p in supervisor.processes()}
        missing |= suspicious - running
    if missing:
        names = sorted(missing)
        raise ApplyFailure(
            f"supervisord does not read the program files of {', '.join(names[:5])}"
            f"{' …' if len(names) > 5 else ''}: its [include] files glob must match the "
            "include folder, and supervisord must be able to read the files (it skips an "
            "include file it cannot open); see `hznctl deploy --help`")


def _check_read_as_written(supervisor: Supervisor, groups: Mapping[str, GroupEntry],
                           here: str) -> None:
    """supervisord merges sections of the same name from all its files, the later file
    winning: a leftover hand-written `[program:x]` would change what our `x` runs."""
    found = overridden(groups, supervisor.config_info(set(groups)), here)
    if found:
        # Option names only: the other file's values may hold anything, secrets included.
        where = "; ".join(f"{name} ({', '.join(options)})"
                          for name, options in list(found.items())[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        raise ConfigOverridden(
            f"supervisord reads these programs otherwise than their files say: {where}"
            f"{more}. Another file of its configuration has a section of the same name, "
            "and supervisord merges such sections, the later file winning: remove or "
            "rename that section.")


def stop_groups(supervisor: Supervisor, groups: list[str], known: dict[str, GroupTarget],
                listing: bool = False) -> None:
    """Stop the groups together (stop signal, then supervisord's stopwaitsecs grace) and
    wait until none of their processes is left; with ``listing``, every process
    supervisord lists for them is waited for."""
    if not groups:
        return
    watched: set[str] = set()
    for group in groups:
        watched.update(supervisor.stop_group(group))
        crashpoint.reached(f"stopping:{group}")
    # supervisord enforces stopwaitsecs itself; this deadline only guards against a hang.
    grace = max((known[g].stopwaitsecs for g in groups if g in known), default=3600)
    deadline = time.monotonic() + grace + STOP_MARGIN
    if listing:
        # The processes supervisord runs for the groups, not those a bundle names: a new
        # numprocs or numprocs_start names others than the ones still stopping.
        live = _by_group(supervisor.processes())
        watched.update(f"{g}:{p['name']}" for g in groups for p in live.get(g, []))
    else:
        # The ones supervisord was just asked to stop, and the bundles' (one already
        # STOPPING is in neither only if its numprocs changed since: then removing the
        # group is refused, STILL_RUNNING, and ``remove_stopped`` waits for the listing).
        watched.update(f"{g}:{name}" for g in groups if g in known
                       for name in known[g].processes)
    while True:
        infos = supervisor.process_infos(sorted(watched)) if watched else {}
        pending = sorted({name.split(":")[0] for name, info in infos.items()
                          if info is not None and info["statename"] not in STOPPED_STATES})
        if not pending:
            return
        if time.monotonic() > deadline:
            raise ApplyFailure(f"{', '.join(pending)} did not stop within "
                               f"{grace + STOP_MARGIN:g}s")
        time.sleep(POLL)


def remove_stopped(supervisor: Supervisor, group: str, known: dict[str, GroupTarget]
                   ) -> None:
    """Remove a stopped group; one supervisord says still runs a process (not one the
    stop was watching) is waited for by the full process listing first."""
    try:
        supervisor.remove_group(group)
    except SupervisorError as exc:
        if exc.fault != STILL_RUNNING:
            raise
        stop_groups(supervisor, [group], known, listing=True)
        supervisor.remove_group(group)


def wait_running(supervisor: Supervisor, groups: list[GroupTarget], *,
                 timeout: float) -> dict[str, int]:
    """Wait until every process of ``groups`` is RUNNING (supervisord moves a process from
    STARTING to RUNNING once it has stayed up ``startsecs``); fail at once on a crash loop.
    Returns the PID of each process (``group:name``) as it was when found RUNNING."""
    expected = {f"{g.name}:{name}": name for g in groups for name in g.processes}
    deadline = time.monotonic() + timeout
    while True:
        seen = supervisor.process_infos(sorted(expected))
        waiting = []
        pids: dict[str, int] = {}
        for full, name in sorted(expected.items()):
            info = seen.get(full)
            state = info["statename"] if info else "ABSENT"
            if state in ("FATAL", "BACKOFF", "EXITED", "STOPPED"):
                raise ApplyFailure(_failed_start(name, state, info))
            if state != "RUNNING":
                waiting.append(f"{name} ({state})")
            elif info is not None:
                pids[full] = int(info["pid"])
        if not waiting:
            return pids
        if time.monotonic() > deadline:
            raise ApplyFailure(f"not RUNNING after {timeout:g}s: {', '.join(waiting[:5])}"
                               f"{' …' if len(waiting) > 5 else ''}")
        time.sleep(POLL)


def watch_settle(supervisor: Supervisor, pids: dict[str, int], seconds: float) -> None:
    """Keep watching the processes just found RUNNING for ``seconds``: `startsecs` is short
    next to a typical failed boot (a worker that crashes a second or two after it starts),
    so one that leaves RUNNING or is restarted (another PID) in this window fails the
    deploy as a failed start would. A recycling worker is no exception: `hznctl exec`
    replaces it in place (``hznctl.recycle``), so its PID stays, and a crash of it shows
    as a crash."""
    names = sorted(pids)
    deadline = time.monotonic() + seconds
    # A process that leaves RUNNING is seen at any later look: it stays out of RUNNING, or
    # supervisord restarts it under another PID. So the looks grow sparser (a failure
    # early in the window is still seen early) and the last one is at the deadline.
    pause = POLL
    while True:
        seen = supervisor.process_infos(names)
        for full in names:
            info = seen.get(full)
            state = info["statename"] if info else "ABSENT"
            if state != "RUNNING" or (info is not None and int(info["pid"]) != pids[full]):
                raise ApplyFailure(_unsettled(full, state, pids[full], info, seconds))
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(pause, left))
        pause = min(2 * pause, SETTLE_POLL_MAX)


def _unsettled(full: str, state: str, pid: int, info: dict[str, Any] | None,
               seconds: float) -> str:
    name = full.split(":", 1)[1]
    if info is not None and info.get("pid") and int(info["pid"]) != pid:
        # supervisord restarted it between two looks: say so whatever its state now.
        state = f"restarted (pid {pid} → {info['pid']})" + (
            "" if state == "RUNNING" else f", {state}")
    detail = _detail(info)
    return (f"{name} did not stay RUNNING through the {seconds:g}s settle window: {state}"
            + (f" ({detail})" if detail else ""))


def _failed_start(name: str, state: str, info: dict[str, Any] | None) -> str:
    detail = _detail(info)
    return f"{name} failed to start: {state}" + (f" ({detail})" if detail else "")


def _detail(info: dict[str, Any] | None) -> str:
    if info is None:
        return ""
    parts = [str(info.get("spawnerr") or info.get("description") or "")]
    log = info.get("stderr_logfile") or info.get("stdout_logfile")
    if log:
        parts.append(f"see {log}")
    return "; ".join(p for p in parts if p)
