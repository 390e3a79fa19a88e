"""The host's own name: `<state_dir>/host`, written once when the host is set up.

A bundle is compiled for one host (its manifest's `host`). Deploy and status refuse a
bundle, or an installed bundle, for any other name, so that a mislabelled runner or a
wrong BUNDLE folder never replaces this machine's workers. The file is written by the
first deploy given `--host NAME` (or, on a host that already runs a bundle, from that
bundle); it is never rewritten: renaming a host is removing the file by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

from hznctl.deploy import statedir
from hznctl.errors import HznctlError

FILE = "host"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


class IdentityError(HznctlError):
    """The bundle is for another host, or this host does not know its name yet."""


def path(state_dir: Path) -> Path:
    return state_dir / FILE


def read(state_dir: Path) -> str | None:
    """This host's name, or None when it was never set up."""
    data = statedir.read_small(path(state_dir), 1024)
    if data is None:
        return None
    name = data.decode("utf-8", "replace").strip()
    if not _NAME.match(name):
        raise IdentityError(f"{path(state_dir)} does not hold a host name ({name[:60]!r}); "
                            "write this machine's name from the inventory into it.")
    return name


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise IdentityError(f"--host {name[:60]!r} is not a host name")
    return name


def resolve(state_dir: Path, bundle_host: str, claimed: str | None,
            installed_host: str | None) -> tuple[str, bool]:
    """The host's name and whether it must be written now (first set-up); refuses a
    bundle compiled for another host. ``claimed``: ``--host``; ``installed_host``: the
    host of the bundle the machine runs now, if any."""
    known = read(state_dir)
    where = path(state_dir)
    if claimed is not None:
        check_name(claimed)
        if known is not None and claimed != known:
            raise IdentityError(f"--host {claimed} but this machine is {known!r} ({where}); "
                                "wrong runner or wrong machine? Nothing was changed.")
    name = known or claimed or installed_host
    if name is None:
        raise IdentityError(
            f"this host does not know its name yet ({where} is missing): deploy once with "
            "--host NAME, NAME being this machine's name in the inventory. Nothing was "
            "changed.")
    if bundle_host != name:
        raise IdentityError(
            f"this bundle is for host {bundle_host!r}, and this machine is {name!r}"
            f"{f' ({where})' if known else ''}; deploy the folder of {name!r} "
            f"(`hznctl compile --out DIR` writes DIR/{name}). Nothing was changed.")
    return name, known is None


def write(state_dir: Path, name: str) -> None:
    statedir.write_atomic(path(state_dir), (check_name(name) + "\n").encode(), 0o644)
