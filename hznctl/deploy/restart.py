"""`hznctl restart APPLICATION`: restart one application's workers on this host, after a
release of its code, one worker group at a time.

Each group is stopped gracefully (its stop signal, then supervisord's `stopwaitsecs`, at
least the job timeout, so a running job finishes), started again, waited for until every
process is RUNNING and has stayed so through the settle window; only then the next group.
The first group that fails stops the restart: nothing is rolled back (the code on disk is
the new release either way), the report says which groups were restarted, which failed
and which were not touched. Nothing goes through the queue's shared cache
(`horizon:terminate`, `queue:restart` reach every application sharing it): only this
host's supervisord, and only the application's own groups.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from hznctl.bundle.manifest import Manifest
from hznctl.deploy import identity, statedir
from hznctl.deploy.apply import ApplyFailure, GroupTarget, stop_groups, wait_running, watch_settle
from hznctl.deploy.install import Installation
from hznctl.deploy.lock import deploy_lock
from hznctl.deploy.record import FAILED, OK, DeployRecord
from hznctl.deploy.supervisor import Address, Supervisor, SupervisorError
from hznctl.errors import HznctlError


class RestartError(HznctlError):
    """The restart was refused before any group was touched."""


@dataclass(frozen=True)
class RestartRequest:
    application: str
    address: Address
    state_dir: Path
    include_dir: Path
    groups: tuple[str, ...] = ()  # worker or group names; empty: all the application's
    host: str | None = None
    timeout: float | None = None
    settle: float = 3.0
    lock_timeout: float = 60.0


def select_groups(manifest: Manifest, application: str, wanted: tuple[str, ...]) -> list[str]:
    """The application's groups on this host (all, or those named by worker or group name),
    in the bundle's order."""
    mine = {name: g for name, g in sorted(manifest.groups.items())
            if g.application == application}
    if not mine:
        apps = sorted({g.application for g in manifest.groups.values()})
        raise RestartError(
            f"application {application!r} runs no worker group on host {manifest.host!r} "
            f"(applications here: {', '.join(apps) or 'none'}). Nothing was restarted.")
    chosen = []
    for name in wanted:
        found = [g for g, entry in mine.items() if name in (g, entry.worker)]
        if not found:
            raise RestartError(
                f"application {application!r} has no worker group {name!r} on host "
                f"{manifest.host!r} (its groups here: {', '.join(mine)}). Nothing was "
                "restarted.")
        chosen += [g for g in found if g not in chosen]
    return sorted(chosen) if chosen else list(mine)


def restart(request: RestartRequest) -> DeployRecord:
    """Restart the groups; the record's ``result`` says whether every one came back."""
    inst = Installation(request.state_dir, request.include_dir)
    if not statedir.ensure_state_dir(inst.state_dir, create=False):
        raise RestartError(f"no bundle is installed in {inst.state_dir}; deploy one first")
    statedir.check_entries(inst.state_dir)
    supervisor = Supervisor(request.address)
    supervisor.ensure_running()
    with deploy_lock(inst.state_dir, timeout=request.lock_timeout):
        manifest, ident = _installed(inst, request)
        groups = select_groups(manifest, request.application, request.groups)
        record = DeployRecord(host=manifest.host, bundle=ident, revision=manifest.revision,
                              previous_bundle=ident, command="restart",
                              plan={"application": request.application, "restart": groups},
                              settle_window=request.settle)
        began = time.monotonic()
        _restart_each(supervisor, manifest, groups, request, record)
        record.durations["total"] = time.monotonic() - began
    return record


def _installed(inst: Installation, request: RestartRequest) -> tuple[Manifest, str]:
    """The bundle this host runs, refusing one that is not exactly as deployed."""
    ident = inst.current_id()
    if ident is None:
        raise RestartError(f"no bundle is installed in {inst.state_dir}; deploy one first")
    if inst.unfinished():
        raise RestartError("a deploy was interrupted on this host; run `hznctl deploy` again "
                           "to finish or undo it, then restart. Nothing was restarted.")
    try:
        manifest = inst.manifest(ident)
    except HznctlError:
        manifest = None
    tampered = inst.verify(ident, manifest.files) if manifest else []
    if manifest is None or tampered:
        what = ", ".join(t.text() for t in tampered[:3]) or "manifest.json edited on the host"
        raise RestartError(f"the installed bundle is not as deployed ({what}): run "
                           "`hznctl deploy` to put it back first. Nothing was restarted.")
    identity.resolve(inst.state_dir, manifest.host, request.host, manifest.host)
    return manifest, ident


def _restart_each(supervisor: Supervisor, manifest: Manifest, groups: list[str],
                  request: RestartRequest, record: DeployRecord) -> None:
    done: list[str] = []
    durations: dict[str, float] = {}
    record.actions = {"restarted": done, "failed": None, "not_restarted": [],
                      "durations": durations}
    for index, name in enumerate(groups):
        entry = manifest.groups[name]
        target = GroupTarget(name, tuple(entry.process_names), entry.startsecs,
                             entry.stopwaitsecs)
        began = time.monotonic()
        try:
            stop_groups(supervisor, [name], {name: target}, listing=True)
            supervisor.start_group(name)
            timeout = request.timeout if request.timeout is not None else 30.0 + entry.startsecs
            pids = wait_running(supervisor, [target], timeout=timeout)
            if request.settle > 0:
                watch_settle(supervisor, pids, request.settle)
        except (ApplyFailure, SupervisorError) as exc:
            record.result = FAILED
            record.actions["failed"] = name
            record.actions["not_restarted"] = groups[index + 1:]
            record.error = (f"{name} did not come back: {exc}; restarted before it: "
                            f"{', '.join(done) or 'none'}; not restarted: "
                            f"{', '.join(groups[index + 1:]) or 'none'}")
            return
        finally:
            durations[name] = round(time.monotonic() - began, 3)
        done.append(name)
    record.result = OK
