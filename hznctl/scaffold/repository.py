"""`hznctl init`: a new inventory repository that validates out of the box.

Everything is rendered into a temporary folder next to the destination, validated there,
and renamed into place in one step: an interrupted or failed init leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from hznctl.atomic import write_text
from hznctl.errors import HznctlError, UsageError
from hznctl.models.common import AGE_RECIPIENT_PATTERN, ShortText, is_valid_slug
from hznctl.scaffold.files import WORKFLOWS, render, workflow

# Where hznctl's action and pre-commit hooks live; `hznctl init --action` points elsewhere.
DEFAULT_ACTION = "hznctl/hznctl@v0.1.0"
KIND_FOLDERS = ("applications", "connections", "hosts", "notifications", "secrets")
HEALTH_KEY = Path(".hznctl") / "health-runner.agekey"


@dataclass(frozen=True)
class InitOptions:
    name: str
    environments: Sequence[str] = ("production", "staging")
    action: str = DEFAULT_ACTION
    # An existing health runner's public key; None makes a new identity.
    health_recipient: str | None = None


@dataclass
class InitResult:
    root: Path
    files: list[str] = field(default_factory=list)
    health_recipient: str = ""
    health_key: Path | None = None


def init_repository(dest: Path, options: InitOptions) -> InitResult:
    _check_options(options)
    _check_destination(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    staging.chmod(0o777 & ~_umask())  # mkdtemp's 0700 would outlive the rename
    try:
        result = _render(staging, options)
        _validate(staging)
        with contextlib.suppress(FileNotFoundError):
            dest.rmdir()  # only ever an empty folder: _check_destination said so
        os.rename(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    result.root = dest
    if result.health_key is not None:
        result.health_key = dest / HEALTH_KEY
    return result


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _check_options(options: InitOptions) -> None:
    bad = [env for env in options.environments if not is_valid_slug(env)]
    if bad or not options.environments:
        raise UsageError(f"environment names are lowercase letters, digits and '-': {bad}")
    if len(set(options.environments)) != len(options.environments):
        raise UsageError("an environment is listed twice")
    if options.health_recipient is not None and not re.match(AGE_RECIPIENT_PATTERN,
                                                              options.health_recipient):
        raise UsageError("--health-recipient is not an age public key (age1…)")
    try:
        TypeAdapter(ShortText).validate_python(options.name)
    except ValidationError:
        raise UsageError("the project name must be one line of text (at most 255 "
                         "characters, no control characters)") from None
    if not options.name.strip():
        raise UsageError("the project name is empty")
    if "@" not in options.action or " " in options.action:
        raise UsageError("--action is OWNER/REPO@REF (or ./ for a local checkout)")


def _check_destination(dest: Path) -> None:
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise HznctlError(f"{dest} exists and is not a folder; nothing was written")
    if dest.is_dir() and any(dest.iterdir()):
        raise HznctlError(f"{dest} is not empty; init writes only into a new or empty folder")


def install_line(action: str) -> str:
    """How to install the hznctl that ``action`` (OWNER/REPO@REF) installs in CI: its source."""
    repo, _, ref = action.partition("@")
    return f'python3 -m pip install "hznctl @ git+https://github.com/{repo}@{ref}"'


def _render(root: Path, options: InitOptions) -> InitResult:
    from hznctl.schema import write_schemas
    from hznctl.secrets.manage import generate_identity, load_for_secrets, write_sops_config

    result = InitResult(root)
    recipient = options.health_recipient
    if recipient is None:
        (root / HEALTH_KEY).parent.mkdir(mode=0o700)
        recipient = generate_identity(root / HEALTH_KEY)
        result.health_key = root / HEALTH_KEY
    result.health_recipient = recipient
    repo, _, ref = options.action.partition("@")
    values = {
        "name": json.dumps(options.name, ensure_ascii=False),
        "title": options.name,
        "environments": ", ".join(options.environments),
        "health_recipient": recipient,
        "hooks_repo": f"https://github.com/{repo}",
        "hooks_rev": ref,
        "install": install_line(options.action),
    }
    files = {
        "README.md": render("README.md", **values),
        ".gitignore": render("gitignore"),
        ".pre-commit-config.yaml": render("pre-commit-config.yaml", **values),
        "inventory/project.yaml": render("project.yaml", **values),
        **{f".github/workflows/{name}.yml": workflow(name, options.action)
           for name in WORKFLOWS},
        **{f"inventory/{folder}/.gitkeep": "" for folder in KIND_FOLDERS},
    }
    for relative, text in files.items():
        write_text(root / relative, text)
    write_schemas(root / "schemas", check=False)
    # sops' creation rules, derived from the inventory like `hznctl secrets sync` does.
    write_sops_config(root / "inventory", load_for_secrets(root / "inventory"))
    files["inventory/.sops.yaml"] = ""
    result.files = sorted([*files, *(f"schemas/{p.name}" for p in (root / "schemas").iterdir())])
    return result


def _validate(root: Path) -> None:
    from hznctl.validate import validate_inventory

    result = validate_inventory(root / "inventory")
    if not result.ok(strict=True):
        problems = "; ".join(d.text() for d in result.diagnostics)
        raise HznctlError(f"the new inventory does not validate (a bug in hznctl): {problems}")
