"""Reading manifest.json: as strict as a strict pydantic model of the same types.

``hznctl.bundle.manifest`` checks a manifest by hand so that `deploy` does not import a
schema library. The reference here is the pydantic model the manifest used to be
(``extra="forbid"``, ``strict=True``): for any document, mutated from a valid one or made
of arbitrary JSON, both accept or both reject; what is accepted reads as the same values;
what is rejected is reported at the same field with the same words. One difference, on
purpose: ``format`` must be the integer 1, where pydantic's ``Literal[1]`` also takes
``true`` and ``1.0``.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError

from hznctl.bundle.manifest import (
    manifest_bytes,
    manifest_from_data,
    parse_manifest,
    plain_manifest,
)
from hznctl.errors import HznctlError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SupervisordRef(_Strict):
    url: str
    include_dir: str
    state_dir: str
    log_dir: str


class GroupEntry(_Strict):
    application: str
    worker: str | None
    runtime: str
    file: str
    sha256: str
    processes: int
    process_names: list[str]
    startsecs: int
    stopwaitsecs: int
    settings: dict[str, str]
    files: list[str]
    parameters: dict[str, str] = {}
    recycle_exit_codes: list[int] = []


class Manifest(_Strict):
    format: Literal[1] = 1
    generator: str
    host: str
    environment: str
    revision: str | None
    supervisord: SupervisordRef
    groups: dict[str, GroupEntry]
    files: dict[str, str]
    secret_values: dict[str, str] = {}


def _group(name: str) -> dict[str, Any]:
    return {"application": "shop", "worker": name, "runtime": "laravel-queue",
            "file": f"programs/{name}.conf", "sha256": "a" * 64, "processes": 2,
            "process_names": [f"{name}_00", f"{name}_01"], "startsecs": 1,
            "stopwaitsecs": 90, "settings": {"numprocs": "2"},
            "files": [f"exec/{name}.json"], "parameters": {"queues": "default"},
            "recycle_exit_codes": [75]}


VALID: dict[str, Any] = {
    "format": 1, "generator": "hznctl 0.1.0", "host": "worker-1", "environment": "production",
    "revision": "abc", "supervisord": {"url": "unix:///run/s.sock", "include_dir": "/etc/s",
                                       "state_dir": "/var/lib/h", "log_dir": "/var/log/h"},
    "groups": {"shop-default": _group("default"), "shop-mail": _group("mail")},
    "files": {"programs/default.conf": "b" * 64}, "secret_values": {"secrets/r.yaml": "c"}}

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False)
    | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                 max_size=3),
    max_leaves=6)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def _mutated(draw: st.DrawFn) -> Any:
    """The valid manifest with a few of its values replaced, keys dropped or added."""
    document: Any = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if not path:
            if action == "replace":
                document = draw(_json)
            continue
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        if action == "replace":
            parent[path[-1]] = draw(_json)
        elif action == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "format", "worker", "x"]))] = draw(_json)
    return document


def _format_lenience(document: Any) -> bool:
    """Whether the reference accepts the document only through Literal[1]'s lenience."""
    return isinstance(document, dict) and document.get("format") == 1 and \
        type(document.get("format")) is not int


def _check(document: Any) -> None:
    try:
        expected: Any = Manifest.model_validate(document).model_dump(mode="json")
        problem = None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        expected = None
        problem = f"{'.'.join(str(p) for p in first['loc']) or '(top level)'}: {first['msg']}"
    try:
        read: Any = plain_manifest(manifest_from_data(document))
        failure = None
    except ValueError as exc:
        read, failure = None, str(exc)
    if _format_lenience(document):
        assert failure == "format: Input should be 1"
        return
    assert read == expected
    assert failure == problem


@settings(max_examples=1500, deadline=None)
@given(_mutated())
def test_a_mutated_manifest_reads_as_the_strict_model_reads_it(document: Any) -> None:
    _check(document)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_any_json_reads_as_the_strict_model_reads_it(document: Any) -> None:
    _check(document)


def test_the_valid_manifest_round_trips_to_the_same_bytes() -> None:
    manifest = manifest_from_data(VALID)
    assert json.loads(manifest_bytes(manifest)) == VALID
    assert parse_manifest(manifest_bytes(manifest), "m.json") == manifest


@pytest.mark.parametrize(("change", "said"), [
    ({"format": True}, "format: Input should be 1"),
    ({"format": 1.0}, "format: Input should be 1"),
    ({"host": None}, "host: Input should be a valid string"),
    ({"secret_values": {"s": 1}}, "secret_values.s: Input should be a valid string"),
])
def test_a_bad_field_is_named(change: dict[str, Any], said: str) -> None:
    data = json.dumps({**VALID, **change}).encode()
    with pytest.raises(HznctlError, match=rf"^m\.json: not a valid manifest \({said}\); "):
        parse_manifest(data, "m.json")


def test_deploy_imports_no_schema_library() -> None:
    """What `hznctl deploy` imports to read and apply a bundle leaves pydantic out."""
    code = ("import sys, hznctl.cli.main, hznctl.cli.deploy, hznctl.deploy.run; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
