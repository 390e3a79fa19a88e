"""The loader's bounds cover merge keys and file types: a self-merge or an exponential
nest of merges is an error at its place, and only regular files are read."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from hznctl.yamlio import MAX_DEPTH, YamlProblem, load_document, parse_document


def problem(text: str) -> YamlProblem:
    with pytest.raises(YamlProblem) as info:
        parse_document(text.encode(), Path("f.yaml"), "f.yaml")
    return info.value


def test_a_mapping_that_merges_itself_is_an_error_at_its_place() -> None:
    found = problem("name: x\nloop: &a\n  k: 1\n  <<: *a\n")
    assert "refers to a mapping it is part of" in found.message
    assert (found.line, found.col) == (4, 3)  # the merge key


def test_a_mapping_that_contains_itself_is_an_error() -> None:
    found = problem("loop: &a\n  again: *a\n")
    assert "refers to a mapping it is part of" in found.message
    assert (found.line, found.col) == (2, 3)


def test_nested_merges_of_small_mappings_are_bounded_fast() -> None:
    """Each level merges the previous one twice and adds nothing: no value is built, so
    only counting the merges themselves bounds the work (2**40 builds otherwise)."""
    lines = ["m0: &m0 {}"]
    for i in range(1, 41):
        lines.append(f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}")
    found = problem("\n".join(lines) + "\n")  # at once, not after 2**40 builds
    assert "expands to more than" in found.message


def test_merges_nested_deeper_than_the_limit_are_an_error() -> None:
    lines = ["m0: &m0 {k: 1}"]
    lines += [f"m{i}: &m{i} {{<<: *m{i - 1}}}" for i in range(1, MAX_DEPTH + 3)]
    found = problem("\n".join(lines) + "\n")
    assert f"nesting deeper than {MAX_DEPTH} levels" in found.message


def test_legitimate_merges_still_work() -> None:
    doc = parse_document(b"a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: [*b, *a], z: 3}\n",
                         Path("f.yaml"), "f.yaml")
    assert doc.data["c"] == {"x": 1, "y": 2, "z": 3}


def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "app.yaml"
    os.mkfifo(fifo)
    started = time.perf_counter()
    with pytest.raises(YamlProblem) as info:
        load_document(fifo)  # no writer: reading would block forever
    assert time.perf_counter() - started < 1
    assert info.value.message == "cannot read file: it is a FIFO (named pipe), not a " \
                                 "regular file"


def test_a_socket_and_a_device_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        with pytest.raises(YamlProblem, match="it is a socket"):
            load_document(path)
    device = tmp_path / "zero.yaml"
    device.symlink_to("/dev/zero")  # endless
    with pytest.raises(YamlProblem, match="it is a character device"):
        load_document(device)
