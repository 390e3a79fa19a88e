"""`hznctl deploy`: lock, plan, stage, switch, converge, roll back on failure, record.

The plan's base is the last bundle whose deploy *finished*: a deploy killed half way leaves
a journal naming where it came from and where it went, so the next deploy plans against the
bundle that really ran and restarts whatever the killed one may have left mixed.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hznctl.bundle.manifest import Manifest, read_manifest
from hznctl.deploy import crashpoint, identity, statedir
from hznctl.deploy.apply import Actions, ApplyFailure, ConfigOverridden, GroupTarget, converge
from hznctl.deploy.install import Installation, InstallError, bundle_id, candidates_from
from hznctl.deploy.lock import deploy_lock
from hznctl.deploy.record import DRY_RUN, FAILED, OK, ROLLED_BACK, UNCHANGED, DeployRecord
from hznctl.deploy.supervisor import Address, ConfigUnreadable, Supervisor, SupervisorError
from hznctl.deploy.verify import MANIFEST, Tamper, groups_touched
from hznctl.errors import HznctlError
from hznctl.plan.model import FieldChange, GroupPlan, HostPlan, plan_host
from hznctl.redact import redact


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
    # Seconds the started processes must stay RUNNING (same PID) after reaching it; 0: off.
    settle: float = 3.0
    # `--host`: this machine's name (checked against <state_dir>/host, written there once).
    host: str | None = None


def targets(manifest: Manifest | None) -> dict[str, GroupTarget]:
    if manifest is None:
        return {}
    return {name: GroupTarget(name, tuple(g.process_names), g.startsecs, g.stopwaitsecs,
                              autostart=g.settings.get("autostart", "true") != "false")
            for name, g in manifest.groups.items()}


def program_files(manifest: Manifest | None) -> list[str]:
    return [] if manifest is None else sorted(g.file for g in manifest.groups.values())


def plan_summary(plan: HostPlan) -> dict[str, Any]:
    """The plan as the deploy record keeps it: groups by action, and why each changed."""
    summary: dict[str, Any] = {kind: sorted(getattr(plan, kind))
                               for kind in ("added", "changed", "removed", "unchanged")}
    summary["why"] = {name: ", ".join(c.text() for c in plan.groups[name].changes)
                      for name in plan.changed}
    return summary


def _manifest(inst: Installation, ident: str | None) -> Manifest | None:
    if ident is None or not (inst.bundle_dir(ident) / "manifest.json").is_file():
        return None
    try:
        return inst.manifest(ident)
    except HznctlError:
        return None  # edited past reading: the verification says so


def with_repairs(plan: HostPlan, new: Manifest, why: dict[str, list[str]]) -> HostPlan:
    """The plan with every group whose installed files were changed by hand among the
    changed groups (it is reinstalled and restarted), saying what was changed."""
    changed, unchanged = set(plan.changed), set(plan.unchanged)
    groups = dict(plan.groups)
    for name, texts in sorted(why.items()):
        if name not in unchanged and name not in changed:
            continue  # added: started anyway; removed: stopped anyway
        notes = tuple(FieldChange("files", note=text) for text in texts)
        old = groups.get(name)
        processes = tuple(new.groups[name].process_names)
        groups[name] = GroupPlan(name, "change", (*(old.changes if old else ()), *notes),
                                 stops=old.stops if old else processes,
                                 starts=old.starts if old else processes)
        unchanged.discard(name)
        changed.add(name)
    return replace(plan, changed=sorted(changed), unchanged=sorted(unchanged), groups=groups)


def _check_bundle(manifest: Manifest, where: Path) -> None:
    """Each group's program file is `programs/<group>.conf` and listed with its hash: a
    link in the include folder must never point anywhere else."""
    for name, group in manifest.groups.items():
        if group.file != f"programs/{name}.conf" or group.file not in manifest.files:
            raise InstallError(f"{where}: group {name!r} names program file {group.file!r}, "
                               f"expected 'programs/{name}.conf' listed in the manifest's "
                               "files; recompile the bundle. Nothing was changed.")


class _Deploy:
    def __init__(self, request: DeployRequest, new: Manifest) -> None:
        self.request = request
        self.new = new
        self.supervisor = Supervisor(request.address)
        self.inst = Installation(request.state_dir, request.include_dir)
        self.durations: dict[str, float] = {}
        self._since = 0.0
        self.tampers: list[Tamper] = []
        self.unverified: list[str] = []
        # Contents of the running bundle's files as its verification read them, by hash.
        self.verified: dict[str, bytes] = {}

    def _timed(self, step: str) -> None:
        now = time.monotonic()
        self.durations[step] = now - self._since
        self._since = now

    def run(self) -> DeployRecord:
        began = self._since = time.monotonic()
        state = self.inst.state_dir
        if self.request.dry_run:  # bundles only: no supervisord, no lock, nothing written
            if statedir.ensure_state_dir(state, create=False):
                statedir.check_entries(state)
            return self._plan()
        # Ask supervisord first: when it is down, the deploy fails before touching anything.
        self.supervisor.ensure_running()
        if statedir.ensure_state_dir(state, create=False):
            statedir.check_entries(state)
        else:  # a new host: nothing to plan against but its name
            identity.resolve(state, self.new.host, self.request.host, None)
            statedir.ensure_state_dir(state, create=True)
        with deploy_lock(state, timeout=self.request.lock_timeout):
            self._timed("lock")
            record = self._plan()
            self._apply(record)
        record.durations = {**self.durations, "total": time.monotonic() - began}
        record.settle_window = self.request.settle
        return record

    def _plan(self) -> DeployRecord:
        inst = self.inst
        self.journal = inst.unfinished()
        self.base_id = self.journal["from"] if self.journal else inst.current_id()
        self.base = _manifest(inst, self.base_id)
        self.host: str | None = None
        self.first = False
        if not self._lenient():
            self.host, self.first = identity.resolve(
                inst.state_dir, self.new.host, self.request.host,
                self.base.host if self.base else None)
        self.tampers = self._verify_base()
        self.plan = plan_host(self.base, self.new)
        why = groups_touched(self.tampers, {g: self.base.group_files(g)
                                            for g in self.base.groups} if self.base else {})
        self.plan = with_repairs(self.plan, self.new, why)
        self.new_id = bundle_id(self.request.bundle)
        record = DeployRecord(host=self.new.host, bundle=self.new_id,
                              revision=self.new.revision, previous_bundle=self.base_id,
                              plan=plan_summary(self.plan), recovered=self.journal,
                              repaired=[t.text() for t in self.tampers])
        if self.request.dry_run:
            record.result = DRY_RUN
        return record

    def _lenient(self) -> bool:
        """A dry run on a host that was never set up plans without knowing its name."""
        return self.request.dry_run and identity.read(self.inst.state_dir) is None and (
            self.request.host is None and self.base is None)

    def _verify_base(self) -> list[Tamper]:
        """What was changed by hand in the bundle that runs, and in its program links."""
        if self.base_id is None:
            return []
        if self.base is None:  # manifest.json unreadable
            return [Tamper(MANIFEST, "edited")]
        found = self.inst.verify(self.base_id, self.base.files, self.verified)
        if not self.journal:  # mid-deploy, the links follow the killed deploy's switch
            links = self.inst.link_problems(program_files(self.base))
            found += [Tamper(rel, f"link in the include folder {what}")
                      for rel, what in links.items()]
        return sorted(set(found), key=lambda t: (t.path, t.what))

    def _scope(self) -> tuple[set[str], set[str], dict[str, GroupTarget]]:
        """(managed, restart, known): every group name hznctl may own here; groups whose
        processes may differ from the new bundle in ways supervisord cannot see (exec spec,
        secrets) — changed against the base and against a killed deploy's target; and
        every group's stop settings."""
        inst = self.inst
        target = _manifest(inst, self.journal["to"]) if self.journal else None
        restart = set(self.plan.changed)
        if any(t.path in (MANIFEST, ".") for t in self.tampers):
            restart |= set(self.new.groups)  # what runs is not known: restart it all
        if target is not None:
            restart |= set(plan_host(target, self.new).changed)
        known: dict[str, GroupTarget] = {}
        for manifest in (target, self.base, self.new):
            known.update(targets(manifest))
        managed = set(known) | {Path(n).stem for n in inst.managed_links()}
        return managed, restart, known

    def _apply(self, record: DeployRecord) -> None:
        inst = self.inst
        self._preflight()
        managed, restart, known = self._scope()
        self._timed("preflight")
        previous_id = inst.previous_id()
        staged_before = (inst.bundle_dir(self.new_id) / "manifest.json").is_file()
        if self.first and self.host is not None:
            identity.write(inst.state_dir, self.host)
        self.unverified = self._repair_base(previous_id)
        # Bundles needed by this deploy, its rollback or undoing its switch; one of the
        # others becomes the new bundle (few of its files differ), the rest are pruned.
        keep = {i for i in (self.base_id, self.new_id, previous_id,
                            *(self.journal or {}).values()) if i}
        if inst.stage(self.request.bundle, dict(self.new.files), verified=self.verified,
                      recyclable=inst.recyclable(keep)) != self.new_id:
            raise InstallError(f"{self.request.bundle / 'manifest.json'} changed while it was "
                               "being deployed; run the deploy again")
        self._timed("stage")
        inst.begin(self.base_id, self.new_id)
        crashpoint.reached("journal")
        self._switch(self.new_id, self.new)
        self._timed("switch")
        # Older bundles are needed neither by this deploy, nor by its rollback, nor by undoing
        # its switch: delete them while supervisord re-reads its configuration.
        pruning = threading.Thread(target=inst.prune, args=(keep,), daemon=True)
        pruning.start()
        try:
            self._converge_or_roll_back(record, known, managed, restart, previous_id,
                                        None if staged_before else self.new_id)
        finally:
            pruning.join()
        if record.result != FAILED:
            inst.finish()  # a failed rollback keeps the journal: the next deploy redoes it all
        crashpoint.reached("finished")

    def _converge_or_roll_back(self, record: DeployRecord, known: dict[str, GroupTarget],
                               managed: set[str], restart: set[str], previous_id: str | None,
                               staged: str | None) -> None:
        try:
            actions = self._converge(self.new, known, managed, restart, set(self.plan.added),
                                     check=True)
        except ConfigUnreadable as exc:
            self._undo(previous_id, staged)
            raise HznctlError(
                "supervisord cannot re-read its configuration, so no reload can succeed "
                f"until this is fixed (a file hznctl does not manage?):\n  {exc}\n"
                "Nothing was changed.") from None
        except ConfigOverridden as exc:
            self._undo(previous_id, staged)
            raise HznctlError(f"{exc} Nothing was changed.") from None
        except (ApplyFailure, SupervisorError) as exc:
            record.error = redact(str(exc))
            self._rollback(record, known, managed)
            self._timed("rollback")
        else:
            record.actions = actions.as_dict()
            self.durations["settle_seconds"] = actions.durations.get("settle", 0.0)
            record.result = OK if (actions.added or actions.removed or self.journal
                                   or self.tampers or self.base_id != self.new_id) else UNCHANGED
            self._timed("converge")

    def _repair_base(self, previous_id: str | None) -> list[str]:
        """Put the bundle that ran back as it was staged (it is the rollback target), from
        copies of its files elsewhere (the new bundle, the previous one), each checked against
        its hash; returns what could not be restored (the rollback is then refused)."""
        if self.base_id is None or self.base_id == self.new_id:
            return []  # staging the new bundle rebuilds it
        if not [t for t in self.tampers if not t.what.startswith("link")]:
            return []
        if self.base is None:
            return [MANIFEST]
        candidates = candidates_from(self.request.bundle, self.new.files)
        for ident in (previous_id, *(self.journal or {}).values()):
            other = _manifest(self.inst, ident) if ident and ident != self.base_id else None
            if other is not None and ident is not None:
                for sha, paths in candidates_from(self.inst.bundle_dir(ident),
                                                  other.files).items():
                    candidates.setdefault(sha, []).extend(paths)
        return self.inst.repair(self.base_id, self.base.files, candidates)

    def _preflight(self) -> None:
        _check_bundle(self.new, self.request.bundle)
        if self.base is not None and self.base.host != self.new.host:
            raise HznctlError(
                f"this host runs the bundle of host {self.base.host!r}; refusing to deploy the "
                f"bundle of {self.new.host!r} over it (wrong BUNDLE folder?). To re-provision "
                f"the machine, remove {self.inst.current} first. Nothing was changed.")
        self.inst.check_links(program_files(self.new))
        include = self.inst.include_dir
        try:
            include.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HznctlError(f"cannot create the include folder {include}: {exc.strerror}. "
                              "Nothing was changed.") from None
        if not os.access(include, os.W_OK | os.X_OK):
            raise HznctlError(f"cannot write into the include folder {include}: run the deploy "
                              "as a user who may. Nothing was changed.")
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

    def _undo(self, previous_id: str | None, staged: str | None) -> None:
        """Put the files back as they were: supervisord could not read the configuration, so
        it applied nothing and still runs exactly the old bundle."""
        self._switch(self.base_id, self.base)
        self.inst.set_previous(previous_id)
        if staged is not None:
            shutil.rmtree(self.inst.bundle_dir(staged), ignore_errors=True)
        self.inst.restore_journal(self.journal)

    def _converge(self, manifest: Manifest | None, known: dict[str, GroupTarget],
                  managed: set[str], restart: set[str], fresh: set[str], *,
                  check: bool = False) -> Actions:
        """``check``: refuse programs supervisord reads otherwise than written (forward
        only: a rollback puts back what ran before, as best it can)."""
        wanted = targets(manifest)
        timeout = self.request.timeout
        if timeout is None:
            timeout = 30.0 + max((t.startsecs for t in wanted.values()), default=0)
        return converge(self.supervisor, wanted, known, managed, restart, fresh,
                        timeout=timeout, wait=self.request.wait, settle=self.request.settle,
                        expected=manifest.groups if check and manifest else None,
                        here=str(self.inst.include_dir))

    def _rollback(self, record: DeployRecord, known: dict[str, GroupTarget],
                  managed: set[str]) -> None:
        # Changed groups ran the new exec specs: restart them on the old ones too.
        restart = set(self.plan.changed)
        if self.base_id is not None and self.base is not None and not self.unverified:
            self.unverified = [t.path for t in self.inst.verify(self.base_id, self.base.files)]
        if self.unverified:
            record.result = FAILED
            record.rollback_error = (
                f"not rolled back: the bundle that ran before ({self.base_id}) was changed on "
                f"the host, and no verified copy of {', '.join(self.unverified[:3])} is left "
                "to restore it from; deploy a bundle that works")
            return
        try:
            self._switch(self.base_id, self.base)
            crashpoint.reached("rolled-back-files")
            actions = self._converge(self.base, known, managed, restart,
                                     set(self.plan.removed))
        except (ApplyFailure, SupervisorError, InstallError) as exc:
            record.result = FAILED
            record.rollback_error = redact(str(exc))
        else:
            record.result = ROLLED_BACK
            record.rollback_actions = actions.as_dict()


def deploy(request: DeployRequest, new: Manifest | None = None) -> DeployRecord:
    """Deploy the bundle at ``request.bundle`` on this host; returns the record (its
    ``result`` says whether the new bundle runs)."""
    manifest = new if new is not None else read_manifest(request.bundle)
    return _Deploy(request, manifest).run()
