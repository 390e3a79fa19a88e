"""`hznctl status`: does the live supervisord run exactly the installed bundle?

Findings: an expected process missing; an extra process under a name hznctl manages;
a process not RUNNING; a live configuration value different from the manifest's
`settings`; program files that differ from what runs (supervisord's own re-read diff:
a deploy that did not finish, or a hand edit); installed files changed on the host (every
file is checked against the manifest). Foreign programs are never reported. A bundle
installed for another host than this machine's (`<state_dir>/host`) is refused.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hznctl.bundle.manifest import Manifest
from hznctl.deploy import identity, statedir
from hznctl.deploy.install import Installation
from hznctl.deploy.liveconfig import differences, expansion_names, numbered
from hznctl.deploy.supervisor import ConfigUnreadable, Supervisor
from hznctl.deploy.verify import MANIFEST, Tamper, groups_touched
from hznctl.errors import HznctlError

MISSING = "missing"
EXTRA = "extra"
NOT_RUNNING = "not-running"
CONFIG = "configured-differently"
PENDING = "pending-reload"
UNREADABLE = "config-unreadable"
NOT_INSTALLED = "not-installed"
UNFINISHED = "unfinished-deploy"
TAMPERED = "changed-on-host"


@dataclass(frozen=True)
class Finding:
    kind: str
    group: str
    process: str | None
    detail: str

    def __str__(self) -> str:
        where = f"{self.group}:{self.process}" if self.process else self.group
        return f"{where}: {self.kind}: {self.detail}"


@dataclass
class HostStatus:
    host: str | None
    bundle: str | None
    revision: str | None
    groups: int = 0
    processes: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["in_sync"] = self.in_sync
        return data


def _managed(inst: Installation, manifest: Manifest) -> set[str]:
    names = set(manifest.groups) | {Path(n).stem for n in inst.managed_links()}
    for ident in (inst.previous_id(), *(inst.unfinished() or {}).values()):
        if ident and (inst.bundle_dir(ident) / "manifest.json").is_file():
            names |= set(inst.manifest(ident).groups)
    return names


def host_status(supervisor: Supervisor, state_dir: Path, include_dir: Path, *,
                reread: bool = True, host: str | None = None) -> HostStatus:
    """``host``: `--host`, this machine's name (checked against its identity file)."""
    inst = Installation(state_dir, include_dir)
    if statedir.ensure_state_dir(inst.state_dir, create=False):
        statedir.check_entries(inst.state_dir)
    ident = inst.current_id()
    supervisor.ensure_running()
    if ident is None:
        if host is not None:
            identity.resolve(inst.state_dir, host, host, None)
        status = HostStatus(None, None, None)
        status.findings.append(Finding(NOT_INSTALLED, "-", None,
                                       f"no bundle is installed in {inst.state_dir}"))
        return status
    try:
        manifest = inst.manifest(ident)
    except HznctlError:
        status = HostStatus(None, ident, None)
        status.findings.append(Finding(TAMPERED, "-", None,
                                       f"{MANIFEST} edited on the host; run `hznctl deploy`"))
        return status
    identity.resolve(inst.state_dir, manifest.host, host, manifest.host)
    status = HostStatus(manifest.host, ident, manifest.revision, groups=len(manifest.groups))
    _tampered(inst, ident, manifest, status)
    if inst.unfinished():
        status.findings.append(Finding(UNFINISHED, "-", None, "a deploy was interrupted; "
                                       "run `hznctl deploy` again to finish or undo it"))
    managed = _managed(inst, manifest)
    if reread:
        _pending(supervisor, managed, status)
    _compare(supervisor, manifest, managed, status, inst.include_dir)
    return status


def _tampered(inst: Installation, ident: str, manifest: Manifest, status: HostStatus) -> None:
    """What was changed by hand in the installed bundle and its links (`hznctl deploy` puts
    it back, restarting the groups it touches)."""
    found = inst.verify(ident, manifest.files)
    if not inst.unfinished():
        links = inst.link_problems(sorted(g.file for g in manifest.groups.values()))
        found += [Tamper(rel, f"link in the include folder {what}") for rel, what in links.items()]
    owners = groups_touched(found, {g: manifest.group_files(g) for g in manifest.groups})
    for tamper in found:
        groups = sorted(g for g, texts in owners.items() if tamper.text() in texts) or ["-"]
        for group in groups:
            status.findings.append(Finding(TAMPERED, group, None,
                                           f"{tamper.text()}; `hznctl deploy` puts it back"))


def _pending(supervisor: Supervisor, managed: set[str], status: HostStatus) -> None:
    try:
        added, changed, removed = supervisor.reload_config()
    except ConfigUnreadable as exc:
        status.findings.append(Finding(UNREADABLE, "-", None, str(exc)))
        return
    for kind, groups in (("added", added), ("changed", changed), ("removed", removed)):
        for group in sorted(set(groups) & managed):
            status.findings.append(Finding(
                PENDING, group, None, f"program file {kind} but not applied to what runs"))


def _compare(supervisor: Supervisor, manifest: Manifest, managed: set[str],
             status: HostStatus, include_dir: Path) -> None:
    live = {(str(p["group"]), str(p["name"])): p for p in supervisor.processes()}
    config = {(str(c["group"]), str(c["name"])): c for c in supervisor.config_info()}
    expected = {(name, proc): (group, num) for name, group in manifest.groups.items()
                for num, proc in numbered(group)}
    status.processes = len(expected)
    for (name, proc), (group, num) in sorted(expected.items()):
        info = live.get((name, proc))
        if info is None:
            status.findings.append(Finding(MISSING, name, proc, "not known to supervisord"))
            continue
        manual = group.settings.get("autostart") == "false"  # left to an operator to start
        if info["statename"] != "RUNNING" and not (manual and info["statename"] == "STOPPED"):
            status.findings.append(Finding(NOT_RUNNING, name, proc, str(info["statename"])))
        names = expansion_names(name, group, num, str(include_dir))
        diffs = differences(group.settings, config.get((name, proc), {}), names)
        if diffs:
            status.findings.append(Finding(CONFIG, name, proc, "; ".join(
                f"{key} is {live!r}, the bundle says {wanted!r}" for key, live, wanted in diffs)))
    for (name, proc) in sorted(live):
        if name in managed and (name, proc) not in expected:
            status.findings.append(Finding(EXTRA, name, proc, "runs but is not in the bundle"))
