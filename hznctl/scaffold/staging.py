"""Changing the inventory only with a change that validates.

The change is made in a private copy of the inventory first, the copy is validated, and
only then are the changed files installed, each atomically: a new file never replaces one
that appeared meanwhile, and secret files land before the YAML that refers to them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hznctl.atomic import create_bytes, write_bytes
from hznctl.diagnostics import Diagnostic
from hznctl.errors import HznctlError, InventoryError, missing_key
from hznctl.inventory import display_path
from hznctl.secrets.decrypt import Identities


@dataclass
class Applied:
    written: list[str]
    warnings: list[Diagnostic]


def apply_checked(inventory: Path, writes: Mapping[str, str], *, new: frozenset[str],
                  prepare: Callable[[Path], None] | None = None,
                  identities: Identities | None = None) -> Applied:
    """Write ``writes`` (paths relative to the inventory) if the result validates.

    ``new`` are paths that must not exist yet; ``prepare`` may change the staged copy
    further (encrypt a secret) before it is validated. A change that gives a host workers
    using a connection also re-encrypts that connection's secret for the host, when
    ``identities`` can read it (sops needs the data key to add a recipient).
    """
    if not (inventory / "project.yaml").is_file():
        raise HznctlError(f"{inventory} is not an inventory (no project.yaml); "
                          "make one with `hznctl init`")
    for relative in sorted(new):
        if (inventory / relative).exists():
            raise HznctlError(f"{display_path(inventory / relative)} already exists; "
                              "nothing was written (edit it, or choose another name)")
    with tempfile.TemporaryDirectory(prefix="hznctl-new-") as scratch:
        staged = Path(scratch) / "inventory"
        shutil.copytree(inventory, staged, symlinks=True)
        for relative, text in writes.items():
            write_bytes(staged / relative, text.encode("utf-8"))
        if prepare is not None:
            prepare(staged)
        _resync_secrets(staged, identities)
        changed = _changed_files(inventory, staged)
        warnings = _check(inventory, staged, changed)
        _install(inventory, staged, changed, new)
    return Applied(changed, warnings)


def _changed_files(real: Path, staged: Path) -> list[str]:
    changed = []
    for path in sorted(staged.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        relative = path.relative_to(staged).as_posix()
        target = real / relative
        try:
            same = target.read_bytes() == path.read_bytes()
        except OSError:
            same = False
        if not same:
            changed.append(relative)
    return changed


def _resync_secrets(staged: Path, identities: Identities | None) -> None:
    """Keep .sops.yaml and the secret files' recipients in step with the changed placement."""
    from hznctl.secrets.manage import (
        file_statuses,
        load_for_secrets,
        sops_has_a_key,
        sync_files,
        write_sops_config,
    )

    try:
        inventory = load_for_secrets(staged)
    except HznctlError:
        return  # the validation that follows says what is wrong
    statuses = [s for s in file_statuses(inventory) if s.problem is None and s.missing]
    stale = [s.file for s in statuses]
    if stale and identities is None and not sops_has_a_key():
        raise missing_key(stale, sorted({r.who for s in statuses for r in s.missing}))
    if stale:
        sync_files(staged, stale, identities=identities)
    elif (staged / ".sops.yaml").exists() or inventory.connections:
        write_sops_config(staged, inventory)


def _key(diagnostic: Diagnostic) -> tuple[str, str, str]:
    # Lines move when a file is edited; the field and the message say which finding it is.
    return diagnostic.file, diagnostic.path, diagnostic.message


def _check(real: Path, staged: Path, changed: list[str]) -> list[Diagnostic]:
    """The new findings of the change; refuses it when it brings new errors anywhere."""
    from hznctl.validate import validate_inventory

    before = {_key(d) for d in validate_inventory(real).diagnostics}
    after = [relocated(d, real, staged) for d in validate_inventory(staged).diagnostics]
    fresh = [d for d in after if _key(d) not in before]
    errors = [d for d in fresh if d.is_error]
    if errors:
        listing = "\n".join(d.text() for d in errors)
        hint = ""
        if any("cannot decrypt" in d.message for d in errors):
            hint = ("\nnew readers need the secret re-encrypted for them: pass --identity "
                    "FILE (an age key that can read it, such as the health runner's) or set "
                    "HZNCTL_AGE_KEY_FILE")
        raise InventoryError(
            f"the change does not validate; nothing was written:\n{listing}{hint}",
            list[object](errors))
    return [d for d in fresh if not d.is_error]


def relocated(diagnostic: Diagnostic, real: Path, staged: Path) -> Diagnostic:
    """The diagnostic pointing at the real file instead of its staged copy."""
    with contextlib.suppress(ValueError):
        relative = Path(diagnostic.file).resolve().relative_to(staged.resolve())
        return dataclasses.replace(diagnostic, file=display_path(real / relative))
    return diagnostic


def _install(real: Path, staged: Path, changed: list[str], new: frozenset[str]) -> None:
    for relative in sorted(changed, key=_install_order):
        data = (staged / relative).read_bytes()
        mode = (staged / relative).stat().st_mode & 0o777
        if relative in new:
            _create(real / relative, data, mode)
        else:
            write_bytes(real / relative, data, mode=mode)


def _install_order(relative: str) -> tuple[int, str]:
    # Secrets and sops' configuration first: the YAML that refers to them comes last.
    if relative.startswith("secrets/"):
        return 0, relative
    return (1 if relative.startswith(".") else 2), relative


def _create(path: Path, data: bytes, mode: int) -> None:
    """Write a new file atomically, refusing to replace one that appeared meanwhile."""
    if not create_bytes(path, data, mode=mode):
        raise HznctlError(f"{display_path(path)} appeared meanwhile; nothing was replaced")
