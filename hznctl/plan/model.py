"""Plans: what changes on each host between two sets of bundles, and why, field by field.

A group is *changed* when its program file or any bundle file it depends on (exec spec,
Horizon file) has a different hash, or a secret file it uses has different values (a new
password or data key). A secret file only re-encrypted for other recipients changes no
group: the plan lists it as re-keyed. supervisord replaces a changed group as a whole, so
every process of a changed group restarts; unchanged groups keep running.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hznctl.bundle.manifest import GroupEntry, Manifest

# Program options that follow from the parameters or the files (shown through those).
_DERIVED_OPTIONS = ("command", "environment")


@dataclass(frozen=True)
class FieldChange:
    """One difference in a group: a setting's old and new value, or a note."""

    field: str
    old: str | None = None
    new: str | None = None
    note: str = ""

    def text(self) -> str:
        if self.note:
            return self.note
        return f"{self.field} {_shown(self.old)} → {_shown(self.new)}"


def _shown(value: str | None) -> str:
    return "(unset)" if value is None else (value if value != "" else '""')


@dataclass(frozen=True)
class GroupPlan:
    """What happens to one group: why it changes, which processes stop and which start."""

    group: str
    action: str  # add | change | remove
    changes: tuple[FieldChange, ...] = ()
    stops: tuple[str, ...] = ()
    starts: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "group": self.group,
            "action": self.action,
            "changes": [
                {"field": c.field, "old": c.old, "new": c.new, "text": c.text()}
                for c in self.changes
            ],
            "stops": list(self.stops),
            "starts": list(self.starts),
        }


@dataclass(frozen=True)
class HostPlan:
    host: str
    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: list[str]
    groups: dict[str, GroupPlan] = field(default_factory=dict)
    environment: str = ""
    old_revision: str | None = None
    new_revision: str | None = None
    # Secret files re-encrypted for other recipients, their values unchanged: installed with
    # the bundle, restarting nothing.
    rekeyed: list[str] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    @property
    def restarts(self) -> list[str]:
        """Processes that stop and start again (those of changed groups)."""
        return [p for g in self.changed for p in self.groups[g].stops]

    def as_dict(self) -> dict[str, object]:
        return {
            "host": self.host,
            "environment": self.environment,
            "old_revision": self.old_revision,
            "new_revision": self.new_revision,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "rekeyed": self.rekeyed,
            "restarts": self.restarts,
            "groups": {name: plan.as_dict() for name, plan in sorted(self.groups.items())},
        }


def plan_host(old: Manifest | None, new: Manifest) -> HostPlan:
    """Compare what a host runs (``old``; None for a new host) with what it must run."""
    old_groups = old.groups if old is not None else {}
    added = sorted(set(new.groups) - set(old_groups))
    removed = sorted(set(old_groups) - set(new.groups))
    changed, unchanged = [], []
    for name in sorted(set(new.groups) & set(old_groups)):
        assert old is not None
        if old.group_files(name) != new.group_files(name):
            changed.append(name)
        else:
            unchanged.append(name)
    groups: dict[str, GroupPlan] = {}
    for name in added:
        groups[name] = GroupPlan(name, "add", starts=tuple(new.groups[name].process_names))
    for name in removed:
        groups[name] = GroupPlan(name, "remove", stops=tuple(old_groups[name].process_names))
    for name in changed:
        assert old is not None
        groups[name] = GroupPlan(
            name, "change", tuple(group_changes(old, new, name)),
            stops=tuple(old_groups[name].process_names),
            starts=tuple(new.groups[name].process_names),
        )
    return HostPlan(new.host, added, changed, removed, unchanged, groups, new.environment,
                    old.revision if old is not None else None, new.revision,
                    rekeyed_files(old, new) if old is not None else [])


def rekeyed_files(old: Manifest, new: Manifest) -> list[str]:
    """Secret files in both bundles whose bytes differ but whose values do not."""
    return sorted(
        path for path in set(old.files) & set(new.files)
        if path.startswith("secrets/") and old.files[path] != new.files[path]
        and old.secret_values.get(path) is not None
        and old.secret_values.get(path) == new.secret_values.get(path))


def plan_removed_host(old: Manifest) -> HostPlan:
    """A host that is no longer compiled: everything it ran stops."""
    groups = {
        name: GroupPlan(name, "remove", stops=tuple(entry.process_names))
        for name, entry in old.groups.items()
    }
    return HostPlan(old.host, [], [], sorted(old.groups), [], groups, old.environment,
                    old.revision, None)


def plan_hosts(old: Mapping[str, Manifest], new: Mapping[str, Manifest]) -> list[HostPlan]:
    """Plans for every host in either set, sorted by host name."""
    plans = []
    for host in sorted(set(old) | set(new)):
        if host in new:
            plans.append(plan_host(old.get(host), new[host]))
        else:
            plans.append(plan_removed_host(old[host]))
    return plans


def _dict_changes(old: Mapping[str, str], new: Mapping[str, str], skip: Sequence[str] = ()
                  ) -> list[FieldChange]:
    return [
        FieldChange(key, old.get(key), new.get(key))
        for key in sorted(set(old) | set(new))
        if key not in skip and old.get(key) != new.get(key)
    ]


def group_changes(old: Manifest, new: Manifest, name: str) -> list[FieldChange]:
    """Why a changed group changed, in the inventory's words where possible."""
    before, after = old.groups[name], new.groups[name]
    changes = _dict_changes(before.parameters, after.parameters)
    changes += _dict_changes(before.settings, after.settings, skip=_DERIVED_OPTIONS)
    if before.runtime != after.runtime:
        changes.insert(0, FieldChange("runtime", before.runtime, after.runtime))
    changes += _file_changes(old, new, before, after)
    if not changes:
        changes += _derived_changes(before, after)
    return changes


def _file_changes(old: Manifest, new: Manifest, before: GroupEntry, after: GroupEntry
                  ) -> list[FieldChange]:
    notes = []
    for path in sorted(set(before.files) | set(after.files)):
        old_hash = old.secret_values.get(path) or old.files.get(path)
        new_hash = new.secret_values.get(path) or new.files.get(path)
        if old_hash == new_hash or not path.startswith("secrets/"):
            continue
        if old_hash is None:
            notes.append(FieldChange(path, note=f"uses secret file {path}"))
        elif new_hash is None:
            notes.append(FieldChange(path, note=f"no longer uses secret file {path}"))
        else:
            notes.append(FieldChange(path, note=f"password rotated ({path})"))
    return notes


def _derived_changes(before: GroupEntry, after: GroupEntry) -> list[FieldChange]:
    """Nothing named changed: show the raw options (a new hznctl_bin, path or spec)."""
    found = [
        FieldChange(option, before.settings.get(option), after.settings.get(option))
        for option in _DERIVED_OPTIONS
        if before.settings.get(option) != after.settings.get(option) and option != "environment"
    ]
    for path in sorted(set(before.files) | set(after.files)):
        if not path.startswith("secrets/"):
            found.append(FieldChange(path, note=f"{path} changed"))
    return found or [FieldChange("file", note=f"{after.file} changed")]
