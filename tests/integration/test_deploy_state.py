"""The state folder and the host's identity against someone with a shell on the host: links
in place of state files are refused and their targets left untouched, a foreign or
group-writable state folder is refused with the fix, and a bundle for another host changes
nothing. Real supervisord, hand-written command-runtime bundles."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration.deploy_fixtures import Group, Host, make_bundle, snapshot, wait_running

pytestmark = pytest.mark.integration

V1 = {"a-one": Group()}
V2 = {"a-one": Group(), "b-two": Group()}


@pytest.fixture
def host(supervisord, tmp_path) -> Host:
    return Host(supervisord, tmp_path / "host")


def _deploy(cli, bundle: Path, *args: str):
    return cli("deploy", str(bundle), "--format", "json", "--settle", "0", *args)


def _ready(cli, host: Host, tmp_path: Path) -> Path:
    result = _deploy(cli, make_bundle(tmp_path / "v1", host, V1), "--host", "test-host")
    assert result.exit_code == 0, result.output
    wait_running(host, V1)
    return make_bundle(tmp_path / "v2", host, V2, revision="r2")


def _unchanged(host: Host, state: dict, links: dict, pids: dict) -> None:
    assert snapshot(host.state_dir) == state
    assert snapshot(host.include_dir) == links
    assert host.pids() == pids


@pytest.mark.parametrize("name", ["deploys.jsonl", "deploy.lock", "deploy.json", "host"])
def test_a_state_file_replaced_by_a_link_is_refused_and_its_target_untouched(
        cli, host, tmp_path, name):
    v2 = _ready(cli, host, tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    mtime = victim.stat().st_mtime_ns
    entry = host.state_dir / name
    if entry.exists():
        entry.unlink()
    entry.symlink_to(victim)
    state, links, pids = snapshot(host.state_dir), snapshot(host.include_dir), host.pids()
    for command in (["deploy", str(v2), "--host", "test-host"],
                    ["status", "--state-dir", str(host.state_dir)]):
        result = cli(*command)
        assert result.exit_code == 1, result.output
        assert f"{entry} is a symbolic link; hznctl never follows links" in result.output
        assert "Traceback" not in result.output
    assert victim.read_text() == "precious\n" and victim.stat().st_mtime_ns == mtime
    _unchanged(host, state, links, pids)


def test_links_in_place_of_the_bundles_folder_or_current_are_refused(cli, host, tmp_path):
    v2 = _ready(cli, host, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bundles = host.state_dir / "bundles"
    bundles.rename(host.state_dir / "bundles-real")
    bundles.symlink_to(elsewhere)
    result = _deploy(cli, v2, "--host", "test-host")
    assert result.exit_code == 1
    assert f"the bundles folder {bundles} is a symbolic link" in result.output
    assert list(elsewhere.iterdir()) == []
    bundles.unlink()
    (host.state_dir / "bundles-real").rename(bundles)

    current = host.state_dir / "current"
    real = os.readlink(current)
    current.unlink()
    current.symlink_to(elsewhere)
    result = _deploy(cli, v2, "--host", "test-host")
    assert result.exit_code == 1
    assert f"{current} must be a link to bundles/<id>" in result.output
    assert list(elsewhere.iterdir()) == []
    current.unlink()
    current.symlink_to(real)
    assert _deploy(cli, v2, "--host", "test-host").exit_code == 0


def test_a_group_writable_state_folder_is_refused_with_the_fix(cli, host, tmp_path):
    v2 = _ready(cli, host, tmp_path)
    host.state_dir.chmod(0o775)
    state, links, pids = snapshot(host.state_dir), snapshot(host.include_dir), host.pids()
    result = _deploy(cli, v2, "--host", "test-host")
    assert result.exit_code == 1
    assert f"the state folder {host.state_dir} is writable by its group or by others" in (
        result.output)
    assert f"`chmod go-w {host.state_dir}`" in result.output
    _unchanged(host, state, links, pids)
    host.state_dir.chmod(0o755)
    assert _deploy(cli, v2, "--host", "test-host").exit_code == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder away takes root")
def test_a_state_folder_owned_by_another_user_is_refused(cli, host, tmp_path):
    v2 = _ready(cli, host, tmp_path)
    os.chown(host.state_dir, 65534, -1)
    try:
        state, links, pids = snapshot(host.state_dir), snapshot(host.include_dir), host.pids()
        result = _deploy(cli, v2, "--host", "test-host")
        assert result.exit_code == 1
        assert f"the state folder {host.state_dir} is owned by uid 65534" in result.output
        assert f"`chown -R {os.geteuid()} {host.state_dir}`" in result.output
        _unchanged(host, state, links, pids)
    finally:
        os.chown(host.state_dir, os.geteuid(), -1)


def test_a_state_folder_that_is_a_link_is_refused(cli, host, tmp_path):
    real = tmp_path / "real-state"
    real.mkdir()
    host.root.mkdir(parents=True, exist_ok=True)
    host.state_dir.symlink_to(real)
    result = _deploy(cli, make_bundle(tmp_path / "v1", host, V1), "--host", "test-host")
    assert result.exit_code == 1
    assert f"the state folder {host.state_dir} is a symbolic link" in result.output
    assert list(real.iterdir()) == [] and host.pids() == {}


def test_a_new_host_learns_its_name_once(cli, host, tmp_path):
    bundle = make_bundle(tmp_path / "v1", host, V1)
    result = _deploy(cli, bundle)
    assert result.exit_code == 1
    assert "this host does not know its name yet" in result.output
    assert "--host NAME" in result.output
    assert not host.state_dir.exists() and host.pids() == {}
    result = _deploy(cli, bundle, "--host", "other-host")
    assert result.exit_code == 1
    assert "this bundle is for host 'test-host', and this machine is 'other-host'" in (
        result.output)
    assert not host.state_dir.exists() and host.pids() == {}

    assert _deploy(cli, bundle, "--host", "test-host").exit_code == 0
    assert (host.state_dir / "host").read_text() == "test-host\n"
    # Later deploys need no --host; a wrong one is refused.
    assert _deploy(cli, bundle).exit_code == 0
    result = _deploy(cli, bundle, "--host", "other-host")
    assert result.exit_code == 1
    assert "--host other-host but this machine is 'test-host'" in result.output


def test_a_bundle_for_another_host_changes_nothing(cli, host, tmp_path):
    _ready(cli, host, tmp_path)
    other = make_bundle(tmp_path / "other", host, V2)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["host"] = "other-host"
    (other / "manifest.json").write_text(json.dumps(manifest))
    state, links, pids = snapshot(host.state_dir), snapshot(host.include_dir), host.pids()
    for args in ([], ["--host", "other-host"], ["--dry-run"]):
        result = _deploy(cli, other, *args)
        assert result.exit_code == 1, args
        assert "this machine is 'test-host'" in result.output, result.output
        assert "Nothing was changed" in result.output
        _unchanged(host, state, links, pids)


def test_status_refuses_a_bundle_installed_for_another_host(cli, host, tmp_path):
    _ready(cli, host, tmp_path)
    args = ["status", "--state-dir", str(host.state_dir)]
    assert cli(*args).exit_code == 0
    assert cli(*args, "--host", "test-host").exit_code == 0
    (host.state_dir / "host").write_text("other-host\n")
    result = cli(*args)
    assert result.exit_code == 1
    assert "this bundle is for host 'test-host', and this machine is 'other-host'" in (
        result.output)
    (host.state_dir / "host").write_text("test-host\n")
    result = cli(*args, "--host", "other-host")
    assert result.exit_code == 1 and "--host other-host but this machine is" in result.output


def test_a_host_that_runs_a_bundle_takes_its_name_from_it(cli, host, tmp_path):
    """A host deployed before the identity file existed: the bundle it runs names it."""
    v2 = _ready(cli, host, tmp_path)
    (host.state_dir / "host").unlink()
    assert _deploy(cli, v2).exit_code == 0
    assert (host.state_dir / "host").read_text() == "test-host\n"
