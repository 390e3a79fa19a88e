"""``deep_merge`` (project defaults under a document) against its plain definition.

It looks only at the defaults' keys one by one; the result, key order included (env and
labels reach the bundles in that order), is what walking every document key gives.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hznctl.inventory import deep_merge


def reference(defaults: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    merged = dict(defaults)
    for key, value in data.items():
        base = merged.get(key)
        if isinstance(base, dict) and isinstance(value, dict):
            merged[key] = reference(base, value)
        else:
            merged[key] = value
    return merged


VALUES = st.recursive(st.one_of(st.integers(0, 3), st.none(), st.lists(st.integers(0, 2))),
                      lambda inner: st.dictionaries(st.sampled_from("abcd"), inner, max_size=4),
                      max_leaves=12)
MAPPINGS = st.dictionaries(st.sampled_from("abcde"), VALUES, max_size=5)


@settings(max_examples=500, deadline=None)
@given(MAPPINGS, MAPPINGS)
def test_deep_merge_is_its_definition_key_order_included(defaults: dict[str, Any],
                                                         data: dict[str, Any]) -> None:
    expected = reference(defaults, data)
    merged = deep_merge(defaults, data)
    assert merged == expected
    assert repr(merged) == repr(expected)
    assert merged is not defaults and merged is not data
