"""The gate's character check finds the same first bad character as a plain scan."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hznctl.targets.supervisord.ini import value_problem


def _scan_first_bad(text: str) -> str | None:
    return next((c for c in text if not " " <= c <= "~"), None)


@given(st.text())
def test_the_first_character_outside_printable_ascii_is_named(text: str) -> None:
    problem = value_problem(text)
    bad = _scan_first_bad(text)
    if bad is None:
        assert problem is None or not problem.startswith(("contains a", "contains the"))
    else:
        assert problem is not None and problem.startswith("contains ")
        assert (f"U+{ord(bad):04X}" in problem) or bad in "\n\r\x00\t\x85\u2028\u2029"
