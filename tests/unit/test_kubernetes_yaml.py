"""The manifests' YAML emitter reads back, with PyYAML, exactly as the data it was given."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hznctl.targets.kubernetes.yamltext import dump, dump_all

KEYS = st.text(min_size=1, max_size=12)
SCALARS = st.one_of(st.text(max_size=40), st.integers(-10**12, 10**12), st.booleans(),
                    st.sampled_from(["yes", "No", "ON", "null", "~", "1e3", "0x1F", "1:20",
                                     "2026-12-03", ".inf", "- a", "a: b", "#x", "a #b", "*a",
                                     "&a", "!t", "%x", "@x", "`x", "|", ">", "'", '"', "{}",
                                     "[]", "?", "a:", ":a", "x\n", "x\ny\n", " x\n",
                                     "\x06\x16", "é", "\u2028"]))
DATA = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(KEYS, DATA, min_size=1, max_size=6))
def test_reads_back_exactly(document):
    assert yaml.safe_load(dump(document)) == document


def test_layout_is_kubectl_s():
    text = dump({"spec": {"containers": [{"name": "worker", "command": ["php", "artisan"]}],
                          "env": [], "labels": {}, "port": "6379", "on": True},
                 "data": {"a.json": "{\n  \"b\": 1\n}\n"}}).decode()
    assert text == (
        "spec:\n  containers:\n  - name: worker\n    command:\n    - php\n    - artisan\n"
        "  env: []\n  labels: {}\n  port: \"6379\"\n  \"on\": true\n"
        "data:\n  a.json: |\n    {\n      \"b\": 1\n    }\n")
    assert yaml.safe_load_all(dump_all([{"a": 1}, {"b": 2}])) is not None


def test_autoscaled_lists_start_with_the_key_health_measures():
    """The first of a queue's waiting lists is the one the health runner's depth reads."""
    from hznctl.health.keyschemes import queue_keys
    from hznctl.models import Runtime
    from hznctl.runtimes import waiting_lists

    for runtime in Runtime:
        lists = waiting_lists(runtime, "mail", "app_database_")
        assert lists[0] == queue_keys(runtime, "mail", "app_database_")[0].key
        assert len(lists) == (4 if runtime is Runtime.CELERY else 1)
