"""A deploy SIGKILLed at every step: supervisord's files are always exactly one bundle, and
the next deploy converges the host to one bundle — never a mix."""

from __future__ import annotations

import configparser
import json
import signal

import pytest

from tests.integration.deploy_fixtures import (
    Group,
    Host,
    deploy_process,
    make_bundle,
    run_deploy,
    wait_running,
)

pytestmark = pytest.mark.integration

V1 = {"keep-same": Group(), "edit-me": Group(numprocs=2), "drop-me": Group()}
V2 = {"keep-same": Group(), "edit-me": Group(numprocs=2, command="sleep 3601"),
      "new-one": Group()}
STEPS = ["staged", "journal", "linked", "switched", "unlinked", "reloaded",
         "stopping:edit-me", "removed:edit-me", "added:edit-me", "added:new-one", "finished"]


@pytest.fixture
def host(supervisord, tmp_path) -> Host:
    return Host(supervisord, tmp_path / "host")


def programs_seen(host: Host) -> dict[str, str]:
    """What supervisord would read from the include folder now: program -> command."""
    parser = configparser.RawConfigParser()
    for path in sorted(host.include_dir.glob("*.conf")):
        parser.read(path)  # like supervisord: a dangling link is skipped
    return {s.split(":", 1)[1]: parser.get(s, "command") for s in parser.sections()}


def expected_programs(groups: dict[str, Group]) -> dict[str, str]:
    return {name: g.command for name, g in groups.items()}


@pytest.mark.parametrize("step", STEPS)
def test_killed_deploy_leaves_one_bundle_and_the_next_deploy_recovers(cli, host, tmp_path,
                                                                       step):
    v1 = make_bundle(tmp_path / "v1", host, V1)
    v2 = make_bundle(tmp_path / "v2", host, V2, revision="r2")
    assert cli("deploy", str(v1), "--host", "test-host").exit_code == 0
    wait_running(host, V1)
    kept = host.pids()["keep-same:keep-same_00"]

    killed = run_deploy(v2, env={"HZNCTL_DEPLOY_CRASH_AT": step})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert programs_seen(host) in (expected_programs(V1), expected_programs(V2))

    result = cli("deploy", str(v2), "--host", "test-host", "--format", "json")
    assert result.exit_code == 0, result.output
    wait_running(host, V2)
    assert programs_seen(host) == expected_programs(V2)
    assert host.pids()["keep-same:keep-same_00"] == kept
    assert "drop-me:drop-me_00" not in host.pids()
    status = cli("status", "--state-dir", str(host.state_dir), "--format", "json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["in_sync"] is True


@pytest.mark.parametrize("step", ["switched", "reloaded", "added:edit-me"])
def test_after_a_killed_deploy_the_old_bundle_can_be_deployed_back(cli, host, tmp_path, step):
    v1 = make_bundle(tmp_path / "v1", host, V1)
    v2 = make_bundle(tmp_path / "v2", host, V2, revision="r2")
    assert cli("deploy", str(v1), "--host", "test-host").exit_code == 0
    killed = run_deploy(v2, env={"HZNCTL_DEPLOY_CRASH_AT": step})
    assert killed.returncode == -signal.SIGKILL
    result = cli("deploy", str(v1), "--host", "test-host", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["recovered"] is not None
    wait_running(host, V1)
    assert programs_seen(host) == expected_programs(V1)
    assert "new-one:new-one_00" not in host.pids()
    status = cli("status", "--state-dir", str(host.state_dir))
    assert status.exit_code == 0, status.output


def test_killed_during_rollback_the_next_deploy_recovers(cli, host, tmp_path):
    v1 = make_bundle(tmp_path / "v1", host, V1)
    bad = {**V1, "edit-me": Group(command="sh -c 'exit 3'", startsecs=1)}
    v2 = make_bundle(tmp_path / "v2", host, bad, revision="r2")
    assert cli("deploy", str(v1), "--host", "test-host").exit_code == 0
    killed = run_deploy(v2, env={"HZNCTL_DEPLOY_CRASH_AT": "rolled-back-files"})
    assert killed.returncode == -signal.SIGKILL
    assert programs_seen(host) == expected_programs(V1)
    assert cli("deploy", str(v1), "--host", "test-host").exit_code == 0
    wait_running(host, V1)
    assert cli("status", "--state-dir", str(host.state_dir)).exit_code == 0


def test_two_concurrent_deploys_never_interleave(cli, host, tmp_path):
    slow = {"slow-stop": Group(command="sh -c 'trap \"sleep 4; exit 0\" TERM; "
                                       "while :; do sleep 0.1; done'", stopwaitsecs=10)}
    v1 = make_bundle(tmp_path / "v1", host, slow)
    assert cli("deploy", str(v1), "--host", "test-host").exit_code == 0
    wait_running(host, slow)
    v2 = make_bundle(tmp_path / "v2", host, {"other": Group()}, revision="r2")
    v3 = make_bundle(tmp_path / "v3", host, {"third": Group()}, revision="r3")
    first = deploy_process(v2)  # stopping slow-stop takes ~4 s, holding the lock
    from tests.support import wait_for

    wait_for(lambda: (host.state_dir / "deploy.json").exists(), timeout=20,
             what="first deploy in progress")
    refused = run_deploy(v3, "--lock-timeout", "0.2")
    assert refused.returncode == 1
    assert "holds" in refused.stderr and "deploy.lock" in refused.stderr
    assert "gave up after 0.2s" in refused.stderr
    waited = run_deploy(v3, "--lock-timeout", "60", "--format", "json")
    assert first.wait(timeout=60) == 0
    assert waited.returncode == 0, waited.stderr
    records = host.records()
    assert [r["revision"] for r in records[-2:]] == ["r2", "r3"]
    assert records[-1]["previous_bundle"] == records[-2]["bundle"]
    wait_running(host, {"third": Group()})
