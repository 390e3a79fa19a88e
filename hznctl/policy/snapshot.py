"""An inventory folder read lazily: its files by path, each parsed only when a change needs it.

A pull request or a commit touches a few files of thousands; comparing bytes first and
reading YAML only for what differs keeps `policy check` and `log` close to the cost of
reading the files once.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from hznctl.errors import UsageError
from hznctl.gitrev import git, repo_root
from hznctl.inventory import PROJECT, KindSpec, all_kinds, load_inventory
from hznctl.models.policy import Policy
from hznctl.policy.kind import POLICY_KIND
from hznctl.yamlio import Document, YamlProblem, load_document, parse_document


class _Missing:
    """A value that is not there (a field or a file added or removed)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
SECRET_FOLDER = "secrets"
_YAML_SUFFIXES = (".yaml", ".yml", ".json")


def _kind_specs() -> list[KindSpec]:
    return [PROJECT, *all_kinds()]


def classify(relative: str, secret_files: set[str]) -> tuple[str, str]:
    """(inventory kind, object name) of a file in the inventory.

    Files that are no object are secret files (in secrets/ or referenced as one), or
    else kind ``file``, named by their path.
    """
    folder, _, filename = relative.rpartition("/")
    stem, dot, suffix = filename.rpartition(".")
    for spec in _kind_specs():
        if spec.filename == relative:
            return spec.kind, spec.kind
        if spec.folder == folder and dot and suffix in ("yaml", "yml") and stem and \
                not filename.startswith("."):
            return spec.kind, stem
    if relative in secret_files or relative.startswith(SECRET_FOLDER + "/"):
        return "secret", relative
    return "file", relative


def name_field(kind: str) -> str:
    for spec in _kind_specs():
        if spec.kind == kind:
            return spec.name_field
    return "name"


@dataclass
class Snapshot:
    """An inventory folder, and how its paths are shown (``label``, e.g. "inventory")."""

    root: Path
    label: str
    files: dict[str, Path] = field(default_factory=dict)  # relative posix path -> file
    _raw: dict[str, bytes] = field(default_factory=dict, repr=False)
    _documents: dict[str, Document | None] = field(default_factory=dict, repr=False)
    _policy: tuple[Policy | None, bool] | None = field(default=None, repr=False)

    def shown(self, relative: str) -> str:
        return str(PurePosixPath(self.label) / relative) if self.label else relative

    def identity(self, relative: str) -> object:
        """What tells two versions of a file apart (its bytes; a blob id in git)."""
        return self.raw(relative)

    def naming(self, needles: list[bytes]) -> set[str]:
        """Files whose text contains one of ``needles``."""
        return {r for r in self.files if any(n in (self.raw(r) or b"") for n in needles)}

    def raw(self, relative: str) -> bytes | None:
        path = self.files.get(relative)
        if path is None:
            return None
        if relative not in self._raw:
            # A link is compared by where it points, never followed (it may leave the tree).
            self._raw[relative] = (b"\0link\0" + os.fsencode(os.readlink(path))
                                   if path.is_symlink() else path.read_bytes())
        return self._raw[relative]

    def document(self, relative: str) -> Document | None:
        """The file read as strict YAML; None when it is missing, not YAML or broken."""
        if relative not in self._documents:
            path = self.files.get(relative)
            doc = None
            if path is not None and path.suffix in _YAML_SUFFIXES and not path.is_symlink():
                try:
                    doc = load_document(path, self.shown(relative))
                except YamlProblem:
                    doc = None
            self._documents[relative] = doc
        return self._documents[relative]

    def data(self, relative: str) -> Any:
        doc = self.document(relative)
        return doc.data if doc is not None else MISSING

    def _load_policy(self) -> tuple[Policy | None, bool]:
        if self._policy is None:
            loaded = load_inventory(self.root, kinds=[POLICY_KIND]).inventory
            found = loaded.objects("policy").get("policy")
            self._policy = (found if isinstance(found, Policy) else None,
                            ("policy", "policy") in loaded.broken)
        return self._policy

    @property
    def policy(self) -> Policy | None:
        """policy.yaml, when it is there and valid."""
        return self._load_policy()[0]

    @property
    def policy_broken(self) -> bool:
        return self._load_policy()[1]


def read_snapshot(root: Path, label: str) -> Snapshot:
    """The files under ``root`` (nothing is parsed yet)."""
    snapshot = Snapshot(root, label)
    if root.is_dir():
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != ".git")
            base = Path(folder)
            prefix = base.relative_to(root).as_posix()
            for name in sorted(names):
                path = base / name
                if path.is_symlink() or path.is_file():
                    snapshot.files[name if prefix == "." else f"{prefix}/{name}"] = path
    return snapshot


def merge_base(root: Path, commit: str) -> str:
    """Where the checked-out branch left ``commit``: the branch's own changes start there.

    Compared with ``commit`` itself, a branch that is behind would seem to undo every
    change made on the target since it was created.
    """
    try:
        found = git(repo_root(root), "merge-base", commit, "HEAD").decode().strip()
    except UsageError:  # no common history, or no commit checked out yet
        return commit
    return found or commit


@dataclass
class GitSnapshot(Snapshot):
    """The inventory at a commit, read from git's objects: nothing is extracted to disk.

    Files are compared by blob id, and only the blobs a change needs are read, so walking
    a long history of a large inventory costs what the commits changed.
    """

    top: Path = Path()
    commit: str = ""
    blobs: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (mode, id)
    prefix: str = ""

    def identity(self, relative: str) -> object:
        return self.blobs.get(relative)

    def raw(self, relative: str) -> bytes | None:
        blob = self.blobs.get(relative)
        if blob is None:
            return None
        if relative not in self._raw:
            data = git(self.top, "cat-file", "blob", blob[1])
            self._raw[relative] = b"\0link\0" + data if blob[0] == "120000" else data
        return self._raw[relative]

    def document(self, relative: str) -> Document | None:
        if relative not in self._documents:
            raw = self.raw(relative)
            doc = None
            if raw is not None and not raw.startswith(b"\0link\0") and \
                    PurePosixPath(relative).suffix in _YAML_SUFFIXES:
                try:
                    doc = parse_document(raw, self.root / relative, self.shown(relative))
                except YamlProblem:
                    doc = None
            self._documents[relative] = doc
        return self._documents[relative]

    def naming(self, needles: list[bytes]) -> set[str]:
        """Files whose text contains one of ``needles`` (git grep, no blob is read here)."""
        if not needles:
            return set()
        args = ["grep", "-l", "-z", "-F", "--no-color"]
        for needle in needles:
            args += ["-e", needle.decode("utf-8", "replace")]
        try:
            out = git(self.top, *args, self.commit, "--", self.prefix or ".")
        except UsageError:  # git grep exits 1 when nothing matches
            return set()
        start = len(self.commit) + 1 + (len(self.prefix) + 1 if self.prefix else 0)
        return {name.decode("utf-8", "replace")[start:] for name in out.split(b"\0") if name}

    def _load_policy(self) -> tuple[Policy | None, bool]:
        if self._policy is None:
            with tempfile.TemporaryDirectory(prefix="hznctl-policy-") as scratch:
                for name in ("project.yaml", "policy.yaml"):
                    raw = self.raw(name)
                    if raw is not None and not raw.startswith(b"\0link\0"):
                        (Path(scratch) / name).write_bytes(raw)
                loaded = load_inventory(Path(scratch), kinds=[POLICY_KIND]).inventory
            found = loaded.objects("policy").get("policy")
            self._policy = (found if isinstance(found, Policy) else None,
                            ("policy", "policy") in loaded.broken)
        return self._policy


def git_snapshot(root: Path, commit: str, label: str) -> GitSnapshot:
    """The folder ``root`` as it was at ``commit``, read lazily from git's objects."""
    top = repo_root(root)
    prefix = _prefix(root, top)
    out = git(top, "ls-tree", "-r", "-z", "--full-tree", commit, "--", prefix or ".")
    snapshot = GitSnapshot(root, label, top=top, commit=commit, prefix=prefix)
    for entry in out.split(b"\0"):
        if not entry:
            continue
        meta, _, name = entry.partition(b"\t")
        mode, kind, blob = meta.decode().split(" ")
        path = name.decode("utf-8", "replace")
        if kind != "blob" or (prefix and not path.startswith(prefix + "/")):
            continue
        relative = path[len(prefix) + 1:] if prefix else path
        snapshot.files[relative] = root / relative
        snapshot.blobs[relative] = (mode, blob)
    return snapshot


def _prefix(root: Path, top: Path) -> str:
    prefix = root.resolve().relative_to(top.resolve()).as_posix()
    return "" if prefix == "." else prefix


def worktree_changes(root: Path, commit: str) -> set[str]:
    """Files under ``root`` that the working tree changes since ``commit`` (git's view:
    tracked changes, staged or not, and untracked files that are not ignored)."""
    top = repo_root(root)
    prefix = _prefix(root, top)
    spec = prefix or "."
    listed = git(top, "diff", "--name-only", "-z", "--no-renames", commit, "--", spec)
    listed += b"\0" + git(top, "ls-files", "-z", "--others", "--exclude-standard", "--",
                           spec)
    start = len(prefix) + 1 if prefix else 0
    return {name.decode("utf-8", "replace")[start:] for name in listed.split(b"\0") if name}
