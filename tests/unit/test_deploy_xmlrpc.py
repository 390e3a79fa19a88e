"""deploy's fast reading of supervisord's config info decodes as xmlrpc.client does."""

from __future__ import annotations

import xmlrpc.client

from hypothesis import given
from hypothesis import strategies as st

from hznctl.deploy.supervisor import _structs

# Text XML can hold (xmlrpc.client cannot send control characters either), tabs and
# newlines included.
_text = st.text(st.one_of(st.characters(blacklist_categories=("Cc", "Cs")),
                          st.sampled_from("\t\n")))
_name = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1)
# The values supervisord's getAllConfigInfo puts in a struct (rpcinterface.py).
_value = st.one_of(st.integers(-2**31, 2**31 - 1), st.booleans(), _text,
                   st.lists(st.integers(0, 255), max_size=3))
_struct = st.fixed_dictionaries({"group": st.sampled_from(["a", "b", "c&<d>", "é"]),
                                 "name": _name},
                                optional={"command": _text, "startsecs": _value,
                                          "autostart": st.booleans(), "exitcodes": _value,
                                          "uid": _value, "stopsignal": st.integers(1, 64)})


@given(st.lists(_struct, max_size=8), st.one_of(st.none(), st.sets(st.sampled_from(
    ["a", "b", "c&<d>", "é", "x"]))))
def test_structs_match_xmlrpc_client(structs, wanted) -> None:
    raw = xmlrpc.client.dumps((structs,), methodresponse=True).encode("utf-8")
    # supervisor's transport turns the reply into ASCII with character references first.
    ascii = raw.decode("utf-8").encode("ascii", "xmlcharrefreplace")
    full = xmlrpc.client.loads(ascii)[0][0]
    expected = [s for s in full if wanted is None or s["group"] in wanted]
    assert _structs(ascii, "group", wanted) == expected
    assert _structs(raw, "group", wanted) == expected
