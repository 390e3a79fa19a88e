"""The deploy record: what one deploy did, appended as one JSON line to the host's log."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hznctl.deploy.statedir import append_line

# result values
OK = "ok"  # the new bundle runs
UNCHANGED = "unchanged"  # nothing to do: the bundle was already running
ROLLED_BACK = "rolled-back"  # the new bundle failed; the previous one runs again
FAILED = "failed"  # the new bundle failed and so did the rollback: the host needs a look
DRY_RUN = "dry-run"


@dataclass
class DeployRecord:
    host: str
    bundle: str
    revision: str | None
    previous_bundle: str | None
    plan: dict[str, Any]
    time: str = field(
        default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    machine: str = field(default_factory=socket.gethostname)
    result: str = OK
    error: str | None = None
    rollback_error: str | None = None
    recovered: dict[str, str | None] | None = None
    actions: dict[str, Any] = field(default_factory=dict)
    rollback_actions: dict[str, Any] | None = None
    durations: dict[str, float] = field(default_factory=dict)
    settle_window: float = 0.0  # seconds started processes had to stay RUNNING (0: off)
    # What had been changed by hand in the installed bundle and was put back.
    repaired: list[str] = field(default_factory=list)
    command: str = "deploy"  # or "restart"

    @property
    def ok(self) -> bool:
        return self.result in (OK, UNCHANGED, DRY_RUN)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["durations"] = {k: round(v, 3) for k, v in self.durations.items()}
        return data

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)


def append(path: Path, record: DeployRecord) -> None:
    append_line(path, record.to_json())


def read(path: Path) -> list[dict[str, Any]]:
    """Every record in a log, oldest first; a torn last line (a crash mid-write) is skipped."""
    records: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return records
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records
