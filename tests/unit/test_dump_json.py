"""`dump_json` writes exactly the bytes of the standard library's pretty, sorted JSON."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from hznctl.bundle.jsonout import dump_json, dump_plain_json

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def _stdlib(data: object) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


@given(_json)
def test_same_bytes_as_the_standard_library(data: object) -> None:
    assert dump_json(data) == _stdlib(data)


_finite = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False,
                                                                allow_infinity=False) | st.text()
_finite_json = st.recursive(
    _finite,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(_finite_json)
def test_the_orjson_path_writes_the_same_bytes(data: object) -> None:
    # Floats too (in exponent range orjson spells them otherwise and the slow path runs).
    assert dump_plain_json(data) == _stdlib(data)


def test_edge_cases() -> None:
    for data in ({}, [], {"a": {}, "b": [], "c": [{}], "é\n\"": "\u2028\x00"}, (1, 2),
                 {"x": 1.5, "y": float("inf"), "z": [True, None, -0.0]}, {1: "a", 2: "b"}):
        assert dump_json(data) == _stdlib(data)


def test_edge_cases_of_the_orjson_path() -> None:
    for data in ({}, [], {"a": {}, "b": [], "c": [{}], "é\n\"": "\u2028\x00\x7f"},
                 (1, 2), {"x": 1e-05, "y": 1e16, "z": [True, None, -0.0, 2**70]},
                 {1: "a", 2: "b"}, {"k": "0.00001 1e5", "\U0001f600": ["\\", "/"]}):
        assert dump_plain_json(data) == _stdlib(data)


def test_no_field_of_a_manifest_is_a_float() -> None:
    # manifest_bytes tells dump_plain_json the data holds no float.
    from dataclasses import fields

    from hznctl.bundle.manifest import GroupEntry, Manifest, SupervisordRef

    for record in (Manifest, GroupEntry, SupervisordRef):
        for field in fields(record):
            assert "float" not in str(field.type), f"{record.__name__}.{field.name}"
