"""hznctl's copies of supervisor's option conversions (hznctl.targets.supervisord.datatypes)
give what supervisor's own give (supervisor/datatypes.py) on any text: the same value, or
a ValueError both. deploy compares what supervisord read with these, so a difference would
make it refuse a program that supervisord reads as written, or miss one it does not."""

from __future__ import annotations

import pwd
import signal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from supervisor import datatypes as theirs

from hznctl.targets.supervisord import datatypes as ours

_signals = sorted(k for k in dir(signal) if k.startswith("SIG"))
_users = sorted({p.pw_name for p in pwd.getpwall()})
_uids = sorted({str(p.pw_uid) for p in pwd.getpwall()})
# Text near what these functions accept, and anything at all.
_texts = st.one_of(
    st.text(),
    st.text("0123456789 ,-+_kKmMgGbB\t\n"),
    st.builds(lambda n, s: f"{n}{s}", st.integers(-10**12, 10**12),
              st.sampled_from(["", "kb", "KB", "Mb", "gb", "b", "tb", " kb", "kb "])),
    st.sampled_from(_signals), st.sampled_from([s[3:].lower() for s in _signals]),
    st.builds(lambda s: f"  {s} ", st.sampled_from(_signals)),
    st.sampled_from(_users), st.sampled_from(_uids),
    st.sampled_from(["yes", "No", "TRUE", "off", "1", "0", " on", "", "022", "0o22", "8"]),
    st.lists(st.integers(-300, 300), max_size=4).map(lambda xs: ",".join(map(str, xs))),
)
_PAIRS = [(ours.boolean, theirs.boolean), (ours.byte_size, theirs.byte_size),
          (ours.list_of_exitcodes, theirs.list_of_exitcodes),
          (ours.name_to_uid, theirs.name_to_uid), (ours.octal_type, theirs.octal_type),
          (ours.signal_number, theirs.signal_number)]


def _outcome(func, text):
    try:
        value = func(text)
    except ValueError:
        return ValueError
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else value


@pytest.mark.parametrize(("mine", "supervisors"), _PAIRS, ids=[p[0].__name__ for p in _PAIRS])
@given(text=_texts)
@example(text="SIG_DFL")
@example(text="sigrtmin")
@example(text="1_000kb")
@example(text="\x00")
@example(text="٣")  # a digit int() reads
def test_each_conversion_is_supervisors(mine, supervisors, text) -> None:
    assert _outcome(mine, text) == _outcome(supervisors, text)


def test_every_conversion_deploy_compares_is_a_copy_and_not_supervisors() -> None:
    """The live table uses the copies (importing supervisor.datatypes would bring back the
    imports they avoid), and only functions that are held to supervisor's above."""
    from hznctl.targets.supervisord.options import LIVE

    held = {p[0] for p in _PAIRS}
    for key, (_, convert) in LIVE.items():
        module = getattr(convert, "__module__", "builtins")
        assert not module.startswith("supervisor"), key
        if module == ours.__name__:
            assert convert in held, key
