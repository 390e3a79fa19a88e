"""A history is trusted whole or not at all: size limit, schema per line, regular files only."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hznctl.health import history
from hznctl.health.history import append_run, load_history, record_line
from hznctl.health.model import ConnectionHealth, HealthReport, Status, count_statuses, worst


def _report(status: Status = Status.OK, at: str = "2026-01-01T00:00:00Z") -> HealthReport:
    items = [ConnectionHealth(connection="redis-a", environment="production",
                              endpoint="h:1/0", status=status, message="m")]
    return HealthReport(inventory="inv", started_at=at, duration_seconds=0.1,
                        deadline_seconds=10, status=worst([status]),
                        counts=count_statuses(items), connections=items)


GOOD = record_line(_report()).encode() + b"\n"
FORGED = [
    b'{"torn\n',
    GOOD[:-1],  # no newline at the end: cut short
    GOOD.replace(b'{"at"', b'{"extra":1,"at"'),
    GOOD.replace(b'"status":"ok"', b'"status":"fine"'),
    GOOD.replace(b'"version":1', b'"version":true'),
    GOOD.replace(b"2026-01-01T00:00:00Z", b"yesterday"),
    GOOD.replace(b'"latency_ms":null', b'"latency_ms":-1'),
    GOOD.replace(b'"redis-a"', b'"Redis A\\u001b[2J"'),
    b"[]\n",
]


@pytest.mark.parametrize("damage", FORGED, ids=range(len(FORGED)))
def test_a_damaged_or_forged_line_makes_the_whole_history_untrusted(
        tmp_path: Path, damage: bytes) -> None:
    path = tmp_path / "health.jsonl"
    path.write_bytes(GOOD + damage)
    loaded = load_history(path)
    assert loaded.runs == [] and loaded.problem is not None
    assert loaded.problem.startswith(f"the history {path} is not trusted: ")
    assert "\x1b" not in loaded.problem


def test_an_untrusted_history_is_set_aside_and_a_new_one_starts(tmp_path: Path) -> None:
    path = tmp_path / "health.jsonl"
    path.write_bytes(GOOD + FORGED[0])
    append_run(path, _report(Status.DOWN), trusted=False)
    assert (tmp_path / "health.jsonl.rejected").read_bytes() == GOOD + FORGED[0]
    assert [r.statuses for r in load_history(path).runs] == [{"redis-a": Status.DOWN}]


def test_the_size_limit_holds_on_read_and_on_append(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "MAX_HISTORY_BYTES", len(GOOD) * 3 + 10)
    path = tmp_path / "health.jsonl"
    path.write_bytes(GOOD * 4)
    assert "larger than" in (load_history(path).problem or "")
    path.write_bytes(GOOD * 3)
    assert len(load_history(path).runs) == 3
    append_run(path, _report(Status.DOWN, at="2026-01-02T00:00:00Z"))
    runs = load_history(path).runs  # the oldest run went
    assert len(runs) == 3 and runs[-1].statuses == {"redis-a": Status.DOWN}


def test_a_fifo_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "health.jsonl"
    os.mkfifo(path)
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # a writer, so that opening does not block
    try:
        assert "not a regular file" in (load_history(path).problem or "")
    finally:
        os.close(fd)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(GOOD) - 2), st.binary(min_size=1, max_size=3))
def test_any_change_to_a_line_is_a_valid_record_or_rejected(position: int,
                                                            bytes_: bytes) -> None:
    """Never an exception: whatever a line holds, it is a record or a reason."""
    data = GOOD[:position] + bytes_ + GOOD[position + 1:]
    lines = data.split(b"\n")
    for number, line in enumerate(lines[:-1], 1):
        try:
            record = history._parse(line, number)
        except history.HistoryProblem:
            continue
        json.dumps(record.figures)  # a record has plain numbers only
        assert all(isinstance(s, Status) for s in record.statuses.values())
