"""Whether a secret reference points inside the inventory: the rules' folder-cached check
(``rules.secrets._Inside``) says what ``os.path.realpath`` of the whole path says, for
any tree of folders, files and links (into the folder, out of it, dangling, in a loop)
and any reference (``..``, absolute, through links)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hznctl.rules.secrets import _Inside

_NAMES = st.sampled_from(["a", "b", "secrets", "x.yaml", "y.yaml"])
_PART = st.one_of(_NAMES, st.just(".."), st.just("."))
_ENTRY = st.tuples(st.lists(_NAMES, min_size=1, max_size=3),
                   st.sampled_from(["folder", "file", "link-in", "link-out", "dangling",
                                    "loop"]),
                   st.lists(_PART, min_size=0, max_size=3))


def _realpath_inside(root: Path, path: Path) -> bool:
    real = os.path.realpath(path)
    top = os.fspath(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def _make(root: Path, outside: Path, parts: list[str], kind: str, target: list[str]) -> None:
    path = root.joinpath(*parts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(path):
            return
        if kind == "folder":
            path.mkdir()
        elif kind == "file":
            path.write_text("k: v\n")
        elif kind == "link-in":
            path.symlink_to(os.path.join(*target) if target else ".")
        elif kind == "link-out":
            path.symlink_to(outside)
        elif kind == "dangling":
            path.symlink_to(root / "missing" / "nowhere")
        else:
            path.symlink_to(path.name)
    except OSError:
        pass  # a part of the path is a file or a link to one: that entry is not made


@settings(max_examples=150, deadline=None)
@given(st.lists(_ENTRY, max_size=8),
       st.lists(st.lists(_PART, min_size=1, max_size=5), min_size=1, max_size=6),
       st.booleans())
def test_the_folder_cached_check_is_realpaths(entries, references, absolute):
    with tempfile.TemporaryDirectory() as tmp:
        root, outside = Path(tmp, "inventory"), Path(tmp, "outside")
        root.mkdir()
        (outside / "secrets").mkdir(parents=True)
        for parts, kind, target in entries:
            _make(root, outside, parts, kind, target)
        top = root.resolve()
        inside = _Inside(top)
        for parts in references:
            reference = os.path.join(*parts)
            path = root / (os.path.join(str(outside), reference) if absolute else reference)
            assert inside(path) == _realpath_inside(top, path), (reference, entries)
            assert inside(path) == _realpath_inside(top, path)  # the folder now cached
