"""The fast path of the strict reader (``_fast_values``) against the composer's path.

The fast path reads plain block YAML with a line scan and gives up on anything else. Its
contract: where it gives a value, the composer and ``_Builder`` (the reader before it,
still used for everything else) give the same value, same types too; where the composer
refuses a text, the fast path never accepts it. Checked on YAML that PyYAML writes from
generated values (every layout it uses) and on random YAML-like text, and the hostile
inputs keep their errors whichever path they would have taken. Line numbers come from the
composed text in both cases (``Document.locate``): checked against PyYAML's own marks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hznctl.yamlio import (
    MAX_NODES,
    YamlProblem,
    _fast_values,
    _NotPlain,
    load_document,
    parse_document,
    strict_values,
)

SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Texts chosen for what each YAML reader might read differently: typed words, numbers in
# every spelling, indicators at the start, inside and at the end, comments, quotes.
TRICKY = ["", " ", "~", "null", "Null", "NULL", "true", "True", "false", "FALSE", "yes", "no",
          "on", "off", "y", "n", "0", "00", "0755", "-0", "+1", "-12", "1_000", "0x1f", "0o7",
          "1e3", "1.5", ".5", "5.", "-.5e-3", ".inf", "nan", "12:30", "2026-01-01", "a: b",
          "a:b", "a:", ":a", "a #b", "a#b", "#a", "'q'", "it's", '"q"', 'say "hi"', "x {y}",
          "[a]", "{a: 1}", "a, b", "- x", "-x", "?x", "? x", "%x", "@x", "`x", "!x", "!!str",
          "&x", "*x", "|", ">", "a ", " a", "<<", "=", "http://user:pw@host:1/0",
          "redis://h:6379", "/srv/app/current", "AGE-SECRET-KEY-1QQQ", "é", "a\tb", "a\nb",
          "x" * 90, "a  b", "a '", "\\n", "a\\b"]
KEYS = st.sampled_from(["name", "slug", "a", "a.b", "x-y", "_k", "n", "y", "no", "on", "true",
                        "null", "True", "1", "01", "-k", "k:", "k k", "<<", "é", "env",
                        "REDIS_HOST", "app.kubernetes.io/name", "sops", "key"])
SCALARS = st.one_of(
    st.sampled_from(TRICKY),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12),
    st.integers(-10**6, 10**6), st.booleans(), st.none(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)), max_leaves=25)
DOCUMENTS = st.dictionaries(KEYS, VALUES, min_size=1, max_size=6)
# Mostly what inventories hold, so that most documents take the fast path, with a few of
# the tricky texts among them.
PLAIN_TEXT = st.from_regex(r"[a-z0-9/][a-z0-9_./{}@:-]{0,10}", fullmatch=True)
FRIENDLY_SCALARS = st.one_of(PLAIN_TEXT, PLAIN_TEXT, st.integers(-10**4, 10**4), st.booleans(),
                             st.none(), st.sampled_from(TRICKY[:40]))
FRIENDLY = st.dictionaries(
    st.from_regex(r"[a-z_][a-z0-9_.-]{0,8}", fullmatch=True),
    st.recursive(FRIENDLY_SCALARS, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_./-]{0,8}", fullmatch=True), inner,
                        max_size=5)), max_leaves=30),
    min_size=1, max_size=8)


def typed(value: Any) -> Any:
    """``value`` with every scalar's type beside it: 1, 1.0 and True are not the same."""
    if isinstance(value, dict):
        return {"dict": [(typed(k), typed(v)) for k, v in value.items()]}
    if isinstance(value, list):
        return {"list": [typed(v) for v in value]}
    return (type(value).__name__, value)


def both(text: str) -> tuple[Any, Any]:
    """(fast value or _NotPlain, strict value or its YamlProblem)."""
    try:
        fast: Any = _fast_values(text)
    except _NotPlain:
        fast = _NotPlain
    try:
        strict: Any = strict_values(text)
    except YamlProblem as problem:
        strict = problem
    return fast, strict


def assert_agree(text: str) -> bool:
    """The contract on one text; True when the fast path took it."""
    fast, strict = both(text)
    if fast is _NotPlain:
        return False
    assert not isinstance(strict, YamlProblem), (text, strict.message)
    assert typed(fast) == typed(strict), text
    return True


DUMP_STYLES = [
    {},
    {"indent": 4},
    {"default_style": "'"},
    {"default_style": '"'},
    {"width": 20},
    {"allow_unicode": True},
]


class _IndentedLists(yaml.SafeDumper):
    """Lists indented under their key (``key:\\n  - a``), as many people write them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


@SETTINGS
@given(st.one_of(DOCUMENTS, FRIENDLY), st.sampled_from(range(len(DUMP_STYLES))), st.booleans())
def test_yaml_as_pyyaml_writes_it_reads_the_same_on_both_paths(
        data: dict[str, Any], style: int, indented: bool) -> None:
    dumper = _IndentedLists if indented else yaml.SafeDumper
    text = yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False,
                     **DUMP_STYLES[style])
    assert_agree(text)


PIECES = st.sampled_from(
    ["", " ", "a", "b", "name", "true", "null", "n", ":", ": ", "#", " #", "'", "''", '"',
     "\\", "{", "}", "[", "]", ",", "&x", "*x", "!t", "|", ">", "?", "<<", "0", "07", "1.5",
     "x y", "---", "...", "%YAML 1.2", "\t", "\r", "é", "@", "-", "- "])
# Lines mostly shaped like block YAML (an indent, a dash, a key, a value, a comment), each
# part sometimes replaced by a random piece.
INDENTS = st.sampled_from(["", "", "  ", "  ", "    ", " ", "   ", "      "])
DASHES = st.sampled_from(["", "", "", "- ", "-  ", "-", "- - "])
LINE_KEYS = st.one_of(st.sampled_from(["", "a: ", "b: ", "name: ", "a:", "b:", "x.y: ",
                                       "a: ", "k-1: ", "on: ", "null: ", "'q': "]), PIECES)
LINE_VALUES = st.one_of(st.sampled_from(TRICKY), PIECES, PLAIN_TEXT)
COMMENTS = st.sampled_from(["", "", "", " # c", "#c", "  #", " #: x"])
LINES = st.lists(st.one_of(
    st.tuples(INDENTS, DASHES, LINE_KEYS, LINE_VALUES, COMMENTS).map("".join),
    st.lists(PIECES, max_size=6).map("".join)), min_size=1, max_size=12)
@SETTINGS
@given(LINES)
@example(["a: 1", "a: 2"])
@example(["a:", "  b: 1", " c: 2"])
@example(["a: b: c"])
@example(["a: 1", "- b"])
@example(["- a", "b: 1"])
@example(["a:", "- 1", "b:", "  - 2", "  c: 3"])
@example(["true: 1"])
@example(["a: x", "  y"])
@example(["a: 'x", "  y'"])
@example(["a: x #c", "b: 'y' #c", 'c: "z"  # c', "d: #c", "  - 1"])
@example(["- - a", "  - b"])
@example(["-", "  a: 1", "- b:", "  - c"])
@example(["a: 1", "---", "b: 2"])
def test_random_yaml_like_text_the_fast_path_never_accepts_what_strict_refuses(
        lines: list[str]) -> None:
    assert_agree("\n".join(lines) + "\n")


@SETTINGS
@given(FRIENDLY, st.booleans(), st.integers(0, 200), LINES, st.booleans())
def test_valid_yaml_with_a_line_changed_reads_the_same_or_takes_the_composer(
        data: dict[str, Any], indented: bool, at: int, lines: list[str], replace: bool) -> None:
    """Near the edge of the subset: a document the fast path takes, one line changed."""
    dumper = _IndentedLists if indented else yaml.SafeDumper
    text = yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False)
    original = text.splitlines()
    at %= len(original)
    changed = [*original[:at], lines[0], *original[at + int(replace):]]
    assert_agree("\n".join(changed) + "\n")


def test_the_fast_path_takes_what_inventories_hold() -> None:
    """Else it would be no faster: the generator's files and a hand-written application."""
    text = (
        "# yaml-language-server: $schema=../../schemas/application.schema.json\n"
        "name: Application 1\nslug: app-0001\ncolor: '#CF222E'\nmetadata:\n  tier: 1\n"
        "connections:\n- connection: redis-prod-399\n  primary: true\n  priority: 10\n"
        "workers:\n  - name: sync-1   # the busy one\n    queues:\n      - sync\n"
        "    balance: 'off'\n    timeout: 1185\n    env:\n      LOG: \"debug\"\n"
        "    hosts: []\n    command: bin/work --queues {queues}\n"
    )
    assert assert_agree(text.replace("    hosts: []\n", ""))
    assert not assert_agree(text.replace("hosts: []", "hosts: [a]"))  # the composer's job


def locations(node: yaml.Node, parts: tuple[str | int, ...] = ()) -> dict[
        tuple[str | int, ...], tuple[int, int]]:
    """Every value's path mapped to (line, column) from PyYAML's own marks."""
    found = {parts: (node.start_mark.line + 1, node.start_mark.column + 1)}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            found.update(locations(value, (*parts, key.value)))
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            found.update(locations(value, (*parts, index)))
    return found


@SETTINGS
@given(DOCUMENTS, st.booleans())
def test_every_value_is_located_where_pyyaml_marks_it(data: dict[str, Any],
                                                      indented: bool) -> None:
    dumper = _IndentedLists if indented else yaml.SafeDumper
    text = yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False)
    try:
        doc = parse_document(text.encode(), Path("f.yaml"), "f.yaml")
    except YamlProblem:
        return  # a key the strict reader refuses (true:, 1:): tested above
    for parts, place in locations(yaml.compose(text, Loader=yaml.SafeLoader)).items():
        assert doc.locate(parts) == place, (parts, text)


# --- hostile inputs keep their errors, whichever path they would have taken ------------

def problem(text: str | bytes) -> YamlProblem:
    raw = text.encode() if isinstance(text, str) else text
    with pytest.raises(YamlProblem) as info:
        parse_document(raw, Path("f.yaml"), "f.yaml")
    return info.value


@pytest.mark.parametrize(("text", "message", "line"), [
    ("name: a\nname: b\n", "duplicate key 'name' (first defined at line 1)", 2),
    ("a:\n  - x: 1\n    x: 2\n", "duplicate key 'x' (first defined at line 2)", 3),
    ("a: !!python/object x\n", "explicit tag", 1),
    ("a: !secret x\n", "explicit tag", 1),
    ("true: 1\n", "key 'true' is not a string", 1),
    ("loop: &a\n  again: *a\n", "refers to a mapping it is part of", 2),
    ("name: x\nloop: &a\n  k: 1\n  <<: *a\n", "refers to a mapping it is part of", 4),
    ("a: b: c\n", "invalid YAML", 1),
    ("a:\n  b: 1\n c: 2\n", "invalid YAML", 3),
    ("a: 1\n---\nb: 2\n", "more than one YAML document", 2),
    ("# only a comment\n", "file is empty", 1),
])
def test_hostile_and_broken_files_keep_their_errors(text: str, message: str, line: int) -> None:
    found = problem(text)
    assert message in found.message
    assert found.line == line


def test_alias_bombs_are_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
              for i in range(1, 10)]
    assert f"more than {MAX_NODES} values" in problem("\n".join(lines) + "\n").message


def test_a_file_of_more_lines_than_values_allowed_takes_the_composer() -> None:
    text = "- x\n" * (MAX_NODES + 1)
    with pytest.raises(_NotPlain):
        _fast_values(text)
    assert f"more than {MAX_NODES} values" in problem(text).message


def test_non_utf8_and_nul_are_refused_before_either_path() -> None:
    assert "not UTF-8" in problem(b"name: caf\xe9\n").message
    assert "NUL" in problem(b"name: a\x00\n").message


def test_fifos_are_refused_by_their_type(tmp_path: Path) -> None:
    fifo = tmp_path / "app.yaml"
    os.mkfifo(fifo)
    with pytest.raises(YamlProblem) as info:
        load_document(fifo)
    assert "FIFO" in info.value.message


# The fast path, a list item, and the composer's path (a carriage return takes it there).
@pytest.mark.parametrize("layout", ["a: {}\n", "a:\n- {}\n", "a: {}\r\n"])
def test_a_number_longer_than_python_converts_is_text_not_a_crash(layout: str) -> None:
    digits = "1" * 5000
    doc = parse_document(layout.format(digits).encode(), Path("f.yaml"), "f.yaml")
    value = doc.data["a"]
    assert (value[0] if isinstance(value, list) else value) == digits
