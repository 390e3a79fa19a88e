"""The strict YAML reader: scalar grammar, hazards refused with their place, locate()."""

from __future__ import annotations

from pathlib import Path

import pytest

from hznctl.yamlio import MAX_FILE_BYTES, YamlProblem, parse_document, plain_value


def parse(text: str | bytes):
    raw = text.encode() if isinstance(text, str) else text
    return parse_document(raw, Path("f.yaml"), "f.yaml")


def problem(text: str | bytes) -> YamlProblem:
    with pytest.raises(YamlProblem) as info:
        parse(text)
    return info.value


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("false", False), ("True", True),
    ("yes", "yes"), ("no", "no"), ("on", "on"), ("off", "off"), ("y", "y"),
    ("0755", "0755"), ("0x1f", "0x1f"), ("1_000", "1_000"), ("0o17", "0o17"),
    ("0", 0), ("-12", -12), ("+3", 3), ("1e3", 1000.0), ("1.5", 1.5), (".5", 0.5),
    ("~", None), ("null", None), ("", None), ("NULL", None),
    ("1.2.3", "1.2.3"), ("e", "e"), (".", "."), ("-", "-"), ("12:30", "12:30"),
    ("2026-01-01", "2026-01-01"), (".inf", ".inf"), ("NaN", "NaN"),
])
def test_plain_scalar_grammar(text: str, value: object) -> None:
    assert plain_value(text) == value
    assert type(plain_value(text)) is type(value)


def test_quoted_scalars_stay_text() -> None:
    doc = parse('a: "true"\nb: \'12\'\nc: |\n  5\n')
    assert doc.data == {"a": "true", "b": "12", "c": "5\n"}


def test_duplicate_key_points_at_the_second() -> None:
    found = problem("a: 1\nb: 2\na: 3\n")
    assert (found.line, found.col) == (3, 1)
    assert "first defined at line 1" in found.message


def test_duplicate_key_in_nested_mapping() -> None:
    found = problem("a:\n  x: 1\n  x: 2\n")
    assert (found.line, found.col) == (3, 3)


def test_aliases_are_bounded_fast() -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]")
    found = problem("\n".join(lines) + "\n")
    assert "expands to more than" in found.message


def test_merge_keys_work_and_local_keys_win() -> None:
    doc = parse("base: &b {x: 1, y: 2}\nthing:\n  <<: *b\n  y: 3\n")
    assert doc.data["thing"] == {"x": 1, "y": 3}


def test_size_limit() -> None:
    found = problem(b"a: 1\n" + b"#" * MAX_FILE_BYTES)
    assert "more than the limit" in found.message


def test_invalid_utf8_is_placed() -> None:
    found = problem(b"a: 1\nb: \xff\n")
    assert (found.line, found.col) == (2, 4)
    assert "not UTF-8" in found.message


def test_bom_is_accepted_and_lines_unchanged() -> None:
    doc = parse("\ufeffa: 1\nb: 2\n")
    assert doc.data == {"a": 1, "b": 2}
    assert doc.locate(("b",)) == (2, 4)


def test_tab_indentation_is_explained() -> None:
    found = problem("a:\n\tb: 1\n")
    assert "tab" in found.message and "spaces" in found.hint


@pytest.mark.parametrize("text", ["a: !!binary aGk=", "a: !custom x", "a: !!int '5'",
                                  "a: !!python/object:os.system x", "a: !!bool yes"])
def test_explicit_tags_are_refused(text: str) -> None:
    assert "explicit tag" in problem(text).message


def test_explicit_str_tag_means_text() -> None:
    assert parse("a: !!str true\nb: !!str 0755\n!!str 1: c\n").data == {
        "a": "true", "b": "0755", "1": "c"}


@pytest.mark.parametrize("text", ["1: a", "true: a", "~: a", "1.5: a", "[a]: b", "{a: 1}: b"])
def test_keys_must_be_strings(text: str) -> None:
    assert "key" in problem(text).message


def test_multi_document_and_empty() -> None:
    assert "more than one YAML document" in problem("a: 1\n---\nb: 2\n").message
    assert problem("").message == "file is empty"
    assert problem("# only a comment\n").message == "file is empty"


def test_locate_values_keys_and_missing_fields() -> None:
    doc = parse("a:\n  - x: 1\n    y: [10, 20]\n")
    assert doc.locate(("a", 0, "y", 1)) == (3, 13)
    assert doc.locate(("a", 0, "y"), key=True) == (3, 5)
    assert doc.locate(("a", 0, "missing")) == (2, 5)
    assert doc.locate(("a", 7)) == (2, 3)


def test_locate_through_merge_keys() -> None:
    doc = parse("base: &b\n  x: 1\nthing:\n  <<: *b\n")
    assert doc.locate(("thing", "x")) == (2, 6)
