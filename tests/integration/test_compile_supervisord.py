"""Every bundle compiled from the example inventory, loaded by a real supervisord.

The hosts' folders point into the test's folder and hznctl_bin is a stand-in that records
the argv supervisord starts it with and then sleeps: what is checked is supervisord's
reading of the program files, not the workers (the exec and deploy tests cover those).
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.compile_support import compile_to
from tests.support import start_supervisord, wait_for

pytestmark = pytest.mark.integration


def _localize(inventory, root):
    """Point hosts and applications at folders and a user that exist on this machine."""
    user = pwd.getpwuid(os.getuid()).pw_name
    stub = root / "bin" / "hznctl"
    stub.parent.mkdir(parents=True)
    (root / "argv").mkdir()
    (root / "srv").mkdir()
    stub.write_text(
        "#!/bin/sh\n"
        f"printf '%s\\0' \"$@\" > '{root}/argv/'\"$SUPERVISOR_PROCESS_NAME\"\n"
        f"printf '%s' \"$HZNCTL_SPEC_SHA256\" > '{root}/argv/'\"$SUPERVISOR_PROCESS_NAME.sha\"\n"
        "exec sleep 300\n")
    stub.chmod(0o755)
    project = inventory / "project.yaml"
    data = yaml.safe_load(project.read_text())
    data["defaults"]["host"]["supervisord"] |= {
        "log_dir": str(root / "log"), "state_dir": str(root / "state"), "hznctl_bin": str(stub)}
    project.write_text(yaml.safe_dump(data))
    (root / "log").mkdir()
    for app in (inventory / "applications").glob("*.yaml"):
        data = yaml.safe_load(app.read_text())
        data["user"], data["directory"] = user, str(root / "srv")
        app.write_text(yaml.safe_dump(data))
    for host in (inventory / "hosts").glob("*.yaml"):  # this machine's folders and user
        data = yaml.safe_load(host.read_text())
        data["privileges"] = {"root": user == "root", "paths": [str(root)]}
        host.write_text(yaml.safe_dump(data))


def test_supervisord_runs_exactly_the_manifest_of_every_host(example_inventory, tmp_path):
    _localize(example_inventory, tmp_path)
    out = tmp_path / "bundles"
    result = compile_to(example_inventory, out)
    assert len(result.bundles) == 4
    for host, bundle in result.bundles.items():
        manifest = bundle.manifest
        expected = {(group, name) for group, entry in manifest.groups.items()
                    for name in entry.process_names}
        # A short folder: a unix socket's path must fit in 108 bytes.
        base = Path(tempfile.mkdtemp(prefix="hzn-sv-"))
        include = base / "supervisor" / "conf.d"
        include.mkdir(parents=True)
        for entry in manifest.groups.values():
            shutil.copy(out / host / entry.file, include)
        sup = start_supervisord(base)
        try:
            def running(sup=sup, expected=expected):
                procs = sup.processes()
                return ({(p["group"], p["name"]) for p in procs} == expected
                        and all(p["statename"] == "RUNNING" for p in procs))

            wait_for(running, timeout=30, what=f"{host}: every process RUNNING")
            listed = {(p["group"], p["name"]) for p in sup.processes()}
            assert listed == expected
            for group, entry in manifest.groups.items():
                _check_started_as_intended(tmp_path, group, entry, out / host)
        finally:
            sup.stop()
            shutil.rmtree(base, ignore_errors=True)


def _check_started_as_intended(root, group, entry, bundle_dir):
    spec_sha = entry.settings["environment"].split("=", 1)[1]
    assert spec_sha == __import__("hashlib").sha256(
        (bundle_dir / f"exec/{group}.json").read_bytes()).hexdigest()
    for num, name in enumerate(entry.process_names):
        recorded = root / "argv" / name
        wait_for(recorded.exists, timeout=10, what=f"{name} recorded its argv")
        argv = recorded.read_bytes().split(b"\0")[:-1]
        intended = shlex.split(entry.settings["command"].replace(
            "%(process_num)02d", f"{num:02d}"))
        assert [a.decode() for a in argv] == intended[1:]
        assert (root / "argv" / f"{name}.sha").read_text() == spec_sha
        spec = json.loads((bundle_dir / f"exec/{group}.json").read_text())
        assert spec["env"]["HZNCTL_GROUP"] == group
