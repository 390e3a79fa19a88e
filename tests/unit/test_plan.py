"""plan_host on hand-made manifests: what counts as a change, and how it is explained."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hznctl.bundle.manifest import GroupEntry, Manifest, SupervisordRef, parse_manifest
from hznctl.errors import HznctlError
from hznctl.plan.model import plan_host, plan_hosts
from hznctl.plan.render import render_text


def _group(name, processes=2, command="php artisan queue:work", secret="secrets/r.yaml",
           **parameters):
    return GroupEntry(
        application="app", worker=name.split("-", 1)[1], runtime="laravel-queue",
        file=f"programs/{name}.conf", sha256="0" * 64, processes=processes,
        process_names=[f"{name}_{n:02d}" for n in range(processes)], startsecs=1,
        stopwaitsecs=90, settings={"numprocs": str(processes), "command": command},
        files=[f"exec/{name}.json", secret], parameters=parameters)


def _manifest(groups, files):
    return Manifest(generator="hznctl test", host="h1", environment="production",
                    revision=None, supervisord=SupervisordRef(
                        url="unix:///s", include_dir="/i", state_dir="/s", log_dir="/l"),
                    groups={g.file.split("/")[1][:-5]: g for g in groups}, files=files)


FILES = {"programs/app-a.conf": "1", "exec/app-a.json": "2", "programs/app-b.conf": "3",
         "exec/app-b.json": "4", "secrets/r.yaml": "5", "secrets/s.yaml": "6"}


def test_a_group_changes_only_when_a_file_it_depends_on_changes():
    a, b = _group("app-a"), _group("app-b", secret="secrets/s.yaml")
    old = _manifest([a, b], FILES)
    new = _manifest([a, b], {**FILES, "secrets/s.yaml": "7"})
    plan = plan_host(old, new)
    assert (plan.changed, plan.unchanged) == (["app-b"], ["app-a"])
    assert [c.text() for c in plan.groups["app-b"].changes] == [
        "password rotated (secrets/s.yaml)"]
    assert plan.restarts == ["app-b_00", "app-b_01"]


def test_named_parameters_explain_a_command_change():
    old = _manifest([_group("app-a", queues="default")], FILES)
    new = _manifest([_group("app-a", processes=3, command="php artisan queue:work x",
                            queues="default,mail")], {**FILES, "programs/app-a.conf": "9"})
    texts = [c.text() for c in plan_host(old, new).groups["app-a"].changes]
    assert texts == ["queues default → default,mail", "numprocs 2 → 3"]


def test_an_unexplained_change_shows_the_command_and_files():
    old = _manifest([_group("app-a")], FILES)
    new = _manifest([_group("app-a", command="/opt/hznctl exec -- php artisan queue:work")],
                    {**FILES, "programs/app-a.conf": "9", "exec/app-a.json": "8"})
    texts = [c.text() for c in plan_host(old, new).groups["app-a"].changes]
    assert texts[0].startswith("command php artisan queue:work → /opt/hznctl exec")
    assert "exec/app-a.json changed" in texts


def test_new_and_vanished_hosts():
    manifest = _manifest([_group("app-a")], FILES)
    plans = plan_hosts({"h0": replace(manifest, host="h0")}, {"h1": manifest})
    assert [(p.host, p.added, p.removed) for p in plans] == [
        ("h0", [], ["app-a"]), ("h1", ["app-a"], [])]
    text = render_text(plans)
    assert "  - app-a: stops app-a_00, app-a_01" in text
    assert "  + app-a: starts app-a_00, app-a_01" in text


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b'{"format": 2}', b"\xff"])
def test_a_corrupt_manifest_is_a_clear_error(data):
    with pytest.raises(HznctlError, match=r"m\.json: not a valid manifest"):
        parse_manifest(data, "m.json")
