"""`hznctl status` against a real supervisord: in sync, then each kind of drift."""

from __future__ import annotations

import json

import pytest

from tests.integration.deploy_fixtures import Group, Host, make_bundle, wait_running
from tests.support import wait_for

pytestmark = pytest.mark.integration

GROUPS = {"a-one": Group(numprocs=2), "b-two": Group(stopwaitsecs=12)}


@pytest.fixture
def host(supervisord, tmp_path, cli) -> Host:
    host = Host(supervisord, tmp_path / "host")
    bundle = make_bundle(tmp_path / "out", host, GROUPS)
    assert cli("deploy", str(bundle), "--host", "test-host").exit_code == 0
    wait_running(host, GROUPS)
    return host


def _status(cli, host: Host, *args: str):
    result = cli("status", "--state-dir", str(host.state_dir), "--format", "json", *args)
    return result.exit_code, json.loads(result.output)


def _kinds(report) -> set[tuple[str, str, str | None]]:
    return {(f["kind"], f["group"], f["process"]) for f in report["findings"]}


def test_in_sync_host_reports_no_drift(cli, host):
    code, report = _status(cli, host)
    assert code == 0 and report["in_sync"] is True
    assert report["groups"] == 2 and report["processes"] == 3
    text = cli("status", "--state-dir", str(host.state_dir))
    assert text.exit_code == 0 and "in sync" in text.output


def test_a_stopped_process_is_drift(cli, host):
    host.sup.rpc().supervisor.stopProcess("a-one:a-one_01")
    code, report = _status(cli, host)
    assert code == 1
    assert _kinds(report) == {("not-running", "a-one", "a-one_01")}


def test_a_removed_group_is_missing(cli, host):
    rpc = host.sup.rpc().supervisor
    rpc.stopProcessGroup("b-two")
    rpc.removeProcessGroup("b-two")
    code, report = _status(cli, host, "--no-reread")
    assert code == 1
    assert _kinds(report) == {("missing", "b-two", "b-two_00")}
    # With a re-read, supervisord also says its file is there but not applied.
    code, report = _status(cli, host)
    assert ("pending-reload", "b-two", None) in _kinds(report)


def test_hand_edited_program_is_configured_differently(cli, host):
    # Someone replaces hznctl's link with their own file and applies it by hand.
    link = host.include_dir / "b-two.conf"
    text = link.read_text().replace("stopwaitsecs=12", "stopwaitsecs=1")
    link.unlink()
    link.write_text(text)
    rpc = host.sup.rpc().supervisor
    rpc.reloadConfig()
    rpc.stopProcessGroup("b-two")
    rpc.removeProcessGroup("b-two")
    rpc.addProcessGroup("b-two")
    wait_for(lambda: host.states().get("b-two:b-two_00") == "RUNNING", timeout=15)
    code, report = _status(cli, host)
    assert code == 1
    [finding] = [f for f in report["findings"] if f["kind"] == "configured-differently"]
    assert finding["process"] == "b-two_00"
    assert "stopwaitsecs is 1, the bundle says 12" in finding["detail"]


def test_extra_process_under_a_managed_name_but_foreign_programs_are_ignored(cli, host):
    (host.include_dir / "foreign.conf").write_text("[program:foreign]\ncommand=sleep 3600\n")
    link = host.include_dir / "a-one.conf"
    text = link.read_text().replace("numprocs=2", "numprocs=3")
    link.unlink()
    link.write_text(text)
    rpc = host.sup.rpc().supervisor
    rpc.reloadConfig()
    rpc.addProcessGroup("foreign")
    rpc.stopProcessGroup("a-one")
    rpc.removeProcessGroup("a-one")
    rpc.addProcessGroup("a-one")
    code, report = _status(cli, host, "--no-reread")
    assert code == 1
    assert ("extra", "a-one", "a-one_02") in _kinds(report)
    assert not any(f["group"] == "foreign" for f in report["findings"])


def test_an_interrupted_deploy_is_reported(cli, host, tmp_path):
    from tests.integration.deploy_fixtures import run_deploy

    v2 = make_bundle(tmp_path / "v2", host, {"a-one": Group(numprocs=2, command="sleep 3601")})
    assert run_deploy(v2, env={"HZNCTL_DEPLOY_CRASH_AT": "switched"}).returncode == -9
    code, report = _status(cli, host)
    assert code == 1
    kinds = {f["kind"] for f in report["findings"]}
    assert {"unfinished-deploy", "pending-reload"} <= kinds


def test_no_bundle_installed(cli, supervisord, tmp_path):
    result = cli("status", "--state-dir", str(tmp_path / "empty"), "--supervisor-url",
                 supervisord.url)
    assert result.exit_code == 1
    # The state directory is missing: that is what is said, not the supervisord socket.
    assert "does not exist: nothing has been deployed to this host" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("status", "--state-dir", str(empty), "--supervisor-url", supervisord.url)
    assert result.exit_code == 1
    assert "no bundle is installed" in result.output
