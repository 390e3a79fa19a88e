"""deploy's XML-RPC (hznctl.deploy.xmlrpc) and its fast reading of supervisord's config info
read replies as xmlrpc.client does, and a hostile reply gives a clear error."""

from __future__ import annotations

import xmlrpc.client

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hznctl.deploy import xmlrpc as wire
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


# ---- hznctl.deploy.xmlrpc: the wire deploy speaks to supervisord --------------------------

_scalar = st.one_of(st.integers(-2**31, 2**31 - 1), st.booleans(), _text, st.none(),
                    st.floats(allow_nan=False))
_values = st.recursive(_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)), max_leaves=12)


def _reply(value, ascii: bool = False) -> bytes:
    raw = xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True).encode("utf-8")
    return raw.decode("utf-8").encode("ascii", "xmlcharrefreplace") if ascii else raw


@given(_values, st.booleans())
def test_loads_reads_what_xmlrpc_client_reads(value, ascii) -> None:
    raw = _reply(value, ascii)
    assert wire.loads(raw) == xmlrpc.client.loads(raw, use_builtin_types=True)[0][0]


@given(st.integers(-2**31, 2**31 - 1), _text)
def test_a_fault_is_raised_with_its_code_and_text(code, text) -> None:
    raw = xmlrpc.client.dumps(xmlrpc.client.Fault(code, text)).encode("utf-8")
    with pytest.raises(wire.Fault) as caught:
        wire.loads(raw)
    assert (caught.value.code, caught.value.string) == (code, text)


_params = st.lists(st.one_of(st.integers(-2**31, 2**31 - 1), st.booleans(), _text,
                             st.lists(st.dictionaries(_text, _text, max_size=3),
                                      max_size=3)), max_size=4)


@given(st.sampled_from(["supervisor.getState", "system.multicall", "a.b&<c>"]), _params)
def test_dumps_is_read_by_xmlrpc_client_as_the_call(method, params) -> None:
    assert xmlrpc.client.loads(wire.dumps(method, tuple(params))) == (tuple(params), method)


def _mutated(draw_bytes: bytes, cut: int, length: int, insert: bytes) -> bytes:
    cut = cut % (len(draw_bytes) + 1)
    return draw_bytes[:cut] + insert + draw_bytes[cut + length:]


_inserts = st.sampled_from([b"", b"<x/>", b"<!-- c -->", b"<?pi x?>", b"</value>", b"<value>",
                            b"<int>7</int>", b"<base64>eA==</base64>", b"&amp;", b"&#0;",
                            b"<string>s</string>", b"<member><name>k</name></member>",
                            b"<![CDATA[<i4>1</i4>]]>", b"<nil/>", b"<params>", b"\xff"])


@given(st.one_of(st.binary(max_size=200),
                 st.builds(_mutated, _values.map(_reply), st.integers(0, 10**4),
                           st.integers(0, 30), _inserts)))
def test_loads_of_anything_is_a_value_xmlrpc_client_agrees_with_or_an_error(raw) -> None:
    """A hostile or broken server: whatever arrives gives a value, a Fault or Malformed,
    never another exception; and a value is what xmlrpc.client reads there too."""
    try:
        value = wire.loads(raw)
    except (wire.Fault, wire.Malformed):
        return
    assert xmlrpc.client.loads(raw, use_builtin_types=True)[0] == (value,)


def test_a_reply_of_nested_entities_is_refused_not_expanded() -> None:
    """A server's "billion laughs" (ten levels of entities, 10 GB expanded): expat's
    amplification limit (libexpat >= 2.4) refuses it, and that is Malformed."""
    entities = b"".join(b'<!ENTITY %s "%s">' % (bytes([98 + i]), b"&%s;" % bytes([97 + i]) * 10)
                        for i in range(9))
    raw = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">' + entities
           + b"]><methodResponse><params><param><value><string>&j;</string></value>"
           b"</param></params></methodResponse>")
    with pytest.raises(wire.Malformed):
        wire.loads(raw)
