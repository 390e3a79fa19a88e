"""The INI gate: what it writes, supervisor reads back; what it cannot, it rejects."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from supervisor.options import UnhosedConfigParser

from hznctl.argv import PROCESS_NUM
from hznctl.targets.supervisord.ini import (
    UnsafeValue,
    argument_problem,
    command_value,
    ini_value,
    shell_quote,
    value_problem,
)


def read_back(line_value: str, option: str = "directory") -> str:
    """The value supervisor reads for ``option`` (with its % expansion, as for a program)."""
    parser = UnhosedConfigParser()
    parser.read_string(f"[program:x]\n{option}={line_value}\n")
    assert parser.sections() == ["program:x"]
    return parser.saneget("program:x", option, expansions={"process_num": 7})


@pytest.mark.parametrize("value", [
    "/srv/app", "/srv/100%", "/srv/%(here)s", "/srv/a;b", "/srv/a#b", '/srv/"quoted"',
    "'single'", "/srv/[program:x]", "a=b", "x" * 30000, "/srv/a\\b", "$(id)", "`id`",
])
def test_values_read_back_exactly(value):
    assert read_back(ini_value(value)) == value


@pytest.mark.parametrize(("value", "reason"), [
    ("a\nb", "newline"), ("a\n[program:evil]", "newline"), ("a\rb", "carriage return"),
    ("a\x00b", "NUL"), ("a\u2028b", "U+2028"), ("a\x85b", "U+0085"), ("a\tb", "tab"),
    ("/srv/a ;b", "' ;'"), ("/srv/a #b", "' #'"), (" lead", "space"), ("trail ", "space"),
    (";x", "comment"), ("#x", "comment"), ("/srv/ünï", "ASCII"), ("x" * 40000, "longer"),
])
def test_values_supervisor_cannot_hold_are_rejected(value, reason):
    with pytest.raises(UnsafeValue, match=reason.replace("(", r"\(").replace("+", r"\+")):
        ini_value(value)
    assert reason.split()[0].strip("'") in (value_problem(value) or "")


@pytest.mark.parametrize("arg", ["a ;b", "a #b", "#x", ";x", "it's", '"q"', "", "100%",
                                 "a  b", "%(here)s", "\\", "[program:x]", "x" * 20000])
def test_arguments_with_comment_starters_and_quotes_are_quoted(arg):
    line = command_value(["/bin/worker", arg])
    argv = shlex.split(read_back(line, "command"))
    assert argv == ["/bin/worker", arg]


def test_supervisor_expansions_are_written_on_purpose_only():
    line = command_value(["rq", ("name_", PROCESS_NUM, "@host"), "%(process_num)02d"])
    assert shlex.split(read_back(line, "command")) == ["rq", "name_07@host",
                                                       "%(process_num)02d"]


def test_argument_problems_name_the_reason():
    assert argument_problem("/usr/bin/ok tool") is None
    assert "newline" in (argument_problem("a\nb") or "")
    assert "ASCII" in (argument_problem("/usr/bin/größe") or "")
    assert shell_quote("plain-arg_1.0:x") == "plain-arg_1.0:x"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=5))
def test_any_argv_is_either_rejected_or_read_back_identically(argv):
    try:
        line = command_value(argv)
    except UnsafeValue:
        assert any(argument_problem(a) for a in argv)
        return
    assert "\n" not in line
    assert shlex.split(read_back(line, "command")) == argv


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_any_value_is_either_rejected_or_read_back_identically(value):
    try:
        line = ini_value(value)
    except UnsafeValue:
        return
    assert read_back(line) == value
