"""`hznctl deploy`: lock, plan, stage, switch, converge, roll back on failure, record.

The plan's base is the last bundle whose deploy *finished*: a deploy killed half way leaves
a journal naming where it came from and where it went, so the next deploy plans against the
bundle that really ran and restarts whatever the killed one may have left mixed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from hznctl.bundle import Manifest, read_manifest
from hznctl.deploy import crashpoint
from hznctl.deploy.apply import Actions, ApplyFailure, GroupTarget, converge
from hznctl.deploy.install import Installation, InstallError, bundle_id
from hznctl.deploy.lock import deploy_lock
from hznctl.deploy.record import DRY_RUN, FAILED, OK, ROLLED_BACK, UNCHANGED, DeployRecord
from hznctl.deploy.supervisor import Address, ConfigUnreadable, Supervisor, SupervisorError
from hznctl.errors import HznctlError
from hznctl.plan import HostPlan, plan_host


@dataclass(frozen=True)
class DeployRequest:
    bundle: Path
    address: Address
    state_dir: Path
    include_dir: Path
    timeout: float | None = None
    lock_timeout: float = 60.0
    dry_run: bool = False
    wait: bool = True


def targets(manifest: Manifest | None) -> dict[str, GroupTarget]:
    if manifest is None:
        return {}
    return {name: GroupTarget(name, tuple(g.process_names), g.startsecs, g.stopwaitsecs)
            for name, g in manifest.groups.items()}


def program_files(manifest: Manifest | None) -> list[str]:
    return [] if manifest is None else sorted(g.file for g in manifest.groups.values())


def plan_summary(plan: HostPlan) -> dict[str, list[str]]:
    return {kind: sorted(_name(g) for g in getattr(plan, kind))
            for kind in ("added", "changed", "removed", "unchanged")}


def _name(group: object) -> str:
    return group if isinstance(group, str) else str(getattr(group, "name", group))


def _manifest(inst: Installation, ident: str | None) -> Manifest | None:
    if ident is None or not (inst.bundle_dir(ident) / "manifest.json").is_file():
        return None
    return read_manifest(inst.bundle_dir(ident))


class _Deploy:
    def __init__(self, request: DeployRequest, new: Manifest) -> None:
        self.request = request
        self.new = new
        self.supervisor = Supervisor(request.address)
        self.inst = Installation(request.state_dir, request.include_dir)
        self.durations: dict[str, float] = {}

    def _timed(self, step: str, since: float) -> float:
        now = time.monotonic()
        self.durations[step] = now - since
        return now

    def run(self) -> DeployRecord:
        began = time.monotonic()
        # Ask supervisord first: when it is down, the deploy fails before touching anything.
        self.supervisor.ensure_running()
        if self.request.dry_run:  # read-only: no lock, not even the state folder is created
            return self._locked(began)
        with deploy_lock(self.inst.state_dir, timeout=self.request.lock_timeout):
            since = self._timed("lock", began)
            record = self._locked(since)
        record.durations = {**self.durations, "total": time.monotonic() - began}
        return record

    def _locked(self, since: float) -> DeployRecord:
        inst = self.inst
        journal = inst.unfinished()
        base_id = journal["from"] if journal else inst.current_id()
        base = _manifest(inst, base_id)
        plan = plan_host(base, self.new)
        new_id = bundle_id(self.request.bundle)
        record = DeployRecord(host=self.new.host, bundle=new_id, revision=self.new.revision,
                              previous_bundle=base_id, plan=plan_summary(plan),
                              recovered=journal)
        if self.request.dry_run:
            record.result = DRY_RUN
            return record
        self._preflight()
        # Groups whose running processes may differ from `new` in ways supervisord cannot see
        # (exec spec, secrets): changed against the base, and against a killed deploy's target.
        others = [base, *([_manifest(inst, journal["to"])] if journal else [])]
        restart = set(plan_summary(plan)["changed"])
        managed = set(targets(self.new)) | {Path(n).stem for n in inst.managed_links()}
        for other in others:
            managed |= set(targets(other))
            if other is not None and other is not base:
                restart |= set(plan_summary(plan_host(other, self.new))["changed"])
        since = self._timed("preflight", since)
        inst.stage(self.request.bundle, dict(self.new.files))
        since = self._timed("stage", since)
        inst.begin(base_id, new_id)
        crashpoint.reached("journal")
        self._switch(new_id, self.new)
        since = self._timed("switch", since)
        try:
            actions = self._converge(self.new, managed, restart)
        except (ApplyFailure, SupervisorError) as exc:
            record.error = str(exc)
            self._rollback(record, base_id, base, managed, plan)
            since = self._timed("rollback", since)
        else:
            record.actions = actions.as_dict()
            record.result = OK if (actions.added or actions.removed or journal
                                   or base_id != new_id) else UNCHANGED
            since = self._timed("converge", since)
        if record.result != FAILED:
            inst.finish()  # a failed rollback keeps the journal: the next deploy redoes it all
        crashpoint.reached("finished")
        inst.prune(keep=set())
        return record

    def _preflight(self) -> None:
        try:
            self.supervisor.reload_config()
        except ConfigUnreadable as exc:
            raise HznctlError(
                "supervisord cannot re-read its configuration, so no reload can succeed "
                f"until this is fixed (a file hznctl does not manage?):\n  {exc}\n"
                "Nothing was changed.") from None
        self.inst.check_links(program_files(self.new))
        # supervisord refuses a program whose log folder is missing (CANT_REREAD).
        try:
            Path(self.new.supervisord.log_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HznctlError(f"cannot create the log folder {self.new.supervisord.log_dir}: "
                              f"{exc.strerror}. Nothing was changed.") from None

    def _switch(self, to_id: str | None, manifest: Manifest | None) -> None:
        """Grow the program links, switch `current`, shrink the links (see install.py)."""
        programs = program_files(manifest)
        self.inst.link_programs(programs)
        crashpoint.reached("linked")
        self.inst.switch(to_id)
        crashpoint.reached("switched")
        self.inst.unlink_programs(programs)
        crashpoint.reached("unlinked")

    def _converge(self, manifest: Manifest | None, managed: set[str],
                  restart: set[str]) -> Actions:
        wanted = targets(manifest)
        timeout = self.request.timeout
        if timeout is None:
            timeout = 30.0 + max((t.startsecs for t in wanted.values()), default=0)
        return converge(self.supervisor, wanted, managed, restart, timeout=timeout,
                        wait=self.request.wait)

    def _rollback(self, record: DeployRecord, base_id: str | None, base: Manifest | None,
                  managed: set[str], plan: HostPlan) -> None:
        restart = set(plan_summary(plan)["changed"])
        try:
            self._switch(base_id, base)
            crashpoint.reached("rolled-back-files")
            actions = self._converge(base, managed, restart)
        except (ApplyFailure, SupervisorError, InstallError) as exc:
            record.result = FAILED
            record.rollback_error = str(exc)
        else:
            record.result = ROLLED_BACK
            record.rollback_actions = actions.as_dict()


def deploy(request: DeployRequest, new: Manifest | None = None) -> DeployRecord:
    """Deploy the bundle at ``request.bundle`` on this host; returns the record (its
    ``result`` says whether the new bundle runs)."""
    manifest = new if new is not None else read_manifest(request.bundle)
    return _Deploy(request, manifest).run()
