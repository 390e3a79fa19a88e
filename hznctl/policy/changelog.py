"""`hznctl log`: the activity log of the inventory, read from git history.

Every commit that touches the inventory folder is compared with its first parent through
the semantic change set (``changes.compare``), so the log says which object and field
changed, not which lines. Merge commits are left out: the commits they bring in are
listed themselves, with their own authors. Deploy records (JSON lines written by
``hznctl deploy``) join the log in time order when given.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hznctl.deploy.record import read as read_records
from hznctl.gitrev import git, repo_root, resolve_revision
from hznctl.policy.changes import ObjectChange, compare
from hznctl.policy.snapshot import Snapshot, git_snapshot

_FIELDS = ("%H", "%P", "%an", "%ae", "%aI", "%cI", "%s")


@dataclass(frozen=True)
class Commit:
    sha: str
    parent: str | None
    author_name: str
    author_email: str
    date: str  # author date, ISO 8601 with its offset, as git records it
    committed: str
    subject: str

    @property
    def short(self) -> str:
        return self.sha[:12]


@dataclass(frozen=True)
class CommitEntry:
    commit: Commit
    changes: tuple[ObjectChange, ...]

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.commit.committed)

    def as_dict(self) -> dict[str, Any]:
        c = self.commit
        return {"type": "commit", "commit": c.sha, "parent": c.parent, "date": c.date,
                "author": {"name": c.author_name, "email": c.author_email},
                "subject": c.subject, "changes": [x.as_dict() for x in self.changes]}


@dataclass(frozen=True)
class DeployEntry:
    time: str
    host: str
    result: str
    revision: str | None
    bundle: str
    groups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def when(self) -> datetime:
        return _parse_time(self.time)

    def as_dict(self) -> dict[str, Any]:
        return {"type": "deploy", "time": self.time, "host": self.host, "result": self.result,
                "revision": self.revision, "bundle": self.bundle, "groups": self.groups}


Entry = CommitEntry | DeployEntry


@dataclass
class Changelog:
    inventory: str
    since: str | None
    entries: list[Entry]

    def as_dict(self) -> dict[str, Any]:
        return {"inventory": self.inventory, "since": self.since,
                "entries": [e.as_dict() for e in self.entries]}


def _parse_time(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def commits(root: Path, since: str | None) -> list[Commit]:
    """Commits that touch ``root``, oldest first, after ``since`` when given."""
    top = repo_root(root)
    relative = root.resolve().relative_to(top.resolve()).as_posix()
    span = f"{resolve_revision(root, since)}..HEAD" if since else "HEAD"
    out = git(top, "log", "--no-merges", "--reverse", "--format=" + "%x1f".join(_FIELDS)
               + "%x1e", span, "--", relative or ".").decode("utf-8", "replace")
    found: list[Commit] = []
    for record in out.split("\x1e"):
        parts = record.strip("\n").split("\x1f")
        if len(parts) != len(_FIELDS):
            continue
        sha, parents, name, email, date, committed, subject = parts
        found.append(Commit(sha, parents.split()[0] if parents else None, name, email, date,
                            committed, subject))
    return found


def _deploys(paths: Sequence[Path]) -> list[DeployEntry]:
    entries: list[DeployEntry] = []
    for path in paths:
        for record in read_records(path):
            plan = record.get("plan") if isinstance(record.get("plan"), dict) else {}
            groups = {k: list(v) for k, v in (plan or {}).items()
                      if k in ("added", "changed", "removed") and isinstance(v, list) and v}
            entries.append(DeployEntry(str(record.get("time", "")), str(record.get("host", "?")),
                                       str(record.get("result", "?")), record.get("revision"),
                                       str(record.get("bundle", "")), groups))
    return entries


class _Snapshots:
    """Inventories at commits, read from git once each and dropped when no longer needed."""

    def __init__(self, root: Path, label: str) -> None:
        self.root, self.label = root, label
        self.kept: dict[str | None, Snapshot] = {}

    def at(self, commit: str | None) -> Snapshot:
        if commit not in self.kept:
            self.kept[commit] = (Snapshot(self.root, self.label) if commit is None  # nothing
                                 else git_snapshot(self.root, commit, self.label))
        return self.kept[commit]

    def keep_only(self, commit: str) -> None:
        self.kept = {commit: self.kept[commit]}


def _commit_entries(root: Path, found: list[Commit], label: str) -> Iterator[CommitEntry]:
    snapshots = _Snapshots(root, label)
    for commit in found:
        changes = compare(snapshots.at(commit.parent), snapshots.at(commit.sha))
        yield CommitEntry(commit, tuple(changes))
        snapshots.keep_only(commit.sha)


def changelog(root: Path, since: str | None = None, deploy_records: Sequence[Path] = (),
              label: str | None = None) -> Changelog:
    """The activity log of the inventory at ``root``: commits and deploys in time order."""
    found = commits(root, since)
    shown = label if label is not None else root.as_posix()
    entries: list[Entry] = list(_commit_entries(root, found, shown))
    deploys = _deploys(deploy_records)
    if since:  # deploys after the commit the log starts from
        start = _parse_time(git(repo_root(root), "show", "-s", "--format=%cI",
                                 resolve_revision(root, since)).decode().strip())
        deploys = [d for d in deploys if d.when > start]
    # Commits keep git's order; a deploy goes after the commits made before it.
    merged = sorted([*entries, *deploys], key=lambda e: (e.when, isinstance(e, DeployEntry)))
    if [e for e in merged if isinstance(e, CommitEntry)] != entries:
        merged = _insert_deploys(entries, deploys)
    return Changelog(shown, since, merged)


def _insert_deploys(entries: list[Entry], deploys: list[DeployEntry]) -> list[Entry]:
    out: list[Entry] = []
    pending = sorted(deploys, key=lambda d: d.when)
    for entry in entries:
        while pending and pending[0].when < entry.when:
            out.append(pending.pop(0))
        out.append(entry)
    return out + list(pending)
