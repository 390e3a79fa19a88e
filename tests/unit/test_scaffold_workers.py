"""Adding a worker group to an application file is a text edit that keeps everything else."""

from __future__ import annotations

import pytest
import yaml

from hznctl.errors import HznctlError
from hznctl.scaffold.objects import dump
from hznctl.scaffold.workers import add_worker

NEW = {"name": "new", "queues": ["a", "b"], "host_labels": {"role": "queue"}}
ITEM = "  - name: new\n    queues: [a, b]\n    host_labels:\n      role: queue\n"

CASES = {
    "no workers key": ("name: x\n# the end\n", "name: x\n# the end\nworkers:\n" + ITEM),
    "no final newline": ("name: x", "name: x\nworkers:\n" + ITEM),
    "empty flow list": ("workers: []\nslug: y\n", "workers:\n" + ITEM + "slug: y\n"),
    "empty value": ("workers:\nslug: y\n", "workers:\n" + ITEM + "slug: y\n"),
    "null": ("workers: ~\nslug: y\n", "workers:\n" + ITEM + "slug: y\n"),
    "after the last item, before comments and later keys": (
        "workers:\n  - name: a  # first\n    queues: [q]\n\n# about slug\nslug: y\n",
        "workers:\n  - name: a  # first\n    queues: [q]\n" + ITEM + "\n# about slug\nslug: y\n"),
    "the list's own indentation": (
        "workers:\n- name: a\n  queues: [q]\n",
        "workers:\n- name: a\n  queues: [q]\n- name: new\n  queues: [a, b]\n  host_labels:\n"
        "    role: queue\n"),
}


@pytest.mark.parametrize(("before", "after"), CASES.values(), ids=CASES.keys())
def test_add_worker(before, after):
    result = add_worker(before, NEW, "f.yaml")
    assert result == after
    assert yaml.safe_load(result)["workers"][-1] == NEW


def test_a_flow_list_with_items_is_refused_with_its_line():
    with pytest.raises(HznctlError, match=r"f.yaml:2: workers is written as a \[flow, list\]"):
        add_worker("name: x\nworkers: [{name: a, queues: [q]}]\n", NEW, "f.yaml")


def test_values_that_yaml_would_misread_are_quoted():
    text = dump({"queues": ["1e3", "yes", "0755", "on", "null", "#x"]})
    assert yaml.safe_load(text) == {"queues": ["1e3", "yes", "0755", "on", "null", "#x"]}
    assert "'1e3'" in text and "'yes'" in text
