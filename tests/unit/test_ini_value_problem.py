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


# Texts near the fast path's edge: printable ASCII with and without spaces, comment
# characters anywhere, and the odd character outside it.
_NEAR_PLAIN = st.text(st.sampled_from([*"a0/_-%.;# ~!\"$:<=>\t\n\x7f\x00é"]), max_size=12)


@given(st.one_of(st.text(), _NEAR_PLAIN))
def test_the_fast_path_answers_as_every_check_would(text: str) -> None:
    # A value of printable ASCII without a space that does not start a comment is
    # accepted at once: the full set of checks must accept it too, and say the same of
    # every other text.
    from hznctl.targets.supervisord.ini import _checked_problem

    assert value_problem(text) == _checked_problem(text)
