"""`hznctl deploy` against a real supervisord with hand-written command-runtime bundles:
install, graceful partial restarts, removal, dry run, records, hostile conditions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.integration.deploy_fixtures import Group, Host, make_bundle, snapshot, wait_running
from tests.support import start_supervisord

pytestmark = pytest.mark.integration


@pytest.fixture
def host(supervisord, tmp_path) -> Host:
    return Host(supervisord, tmp_path / "host")


def _deploy(cli, bundle: Path, *args: str):
    # These groups are `sleep`s: the settle window (tested in test_deploy_hostile) only
    # adds seconds here.
    return cli("deploy", str(bundle), "--host", "test-host", "--format", "json", "--settle", "0",
               *args)


def test_first_deploy_installs_and_runs_every_group(cli, host, tmp_path):
    groups = {"billing-default": Group(numprocs=2), "mailer-mail": Group()}
    bundle = make_bundle(tmp_path / "out", host, groups)
    result = _deploy(cli, bundle)
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["result"] == "ok"
    assert record["plan"]["added"] == ["billing-default", "mailer-mail"]
    assert host.all_running(groups)
    current = host.state_dir / "current"
    assert current.is_symlink() and (current / "manifest.json").is_file()
    link = host.include_dir / "billing-default.conf"
    assert link.is_symlink() and str(link.readlink()).startswith(f"{current}/programs/")
    assert host.records()[-1]["bundle"] == record["bundle"]


def test_only_the_changed_group_restarts_and_removed_groups_stop(cli, host, tmp_path):
    v1 = {"a-one": Group(numprocs=2), "b-two": Group(), "c-three": Group()}
    assert _deploy(cli, make_bundle(tmp_path / "v1", host, v1)).exit_code == 0
    before = host.pids()
    v2 = {"a-one": Group(numprocs=2), "b-two": Group(command="sleep 3601"), "d-four": Group()}
    result = _deploy(cli, make_bundle(tmp_path / "v2", host, v2, revision="r2"))
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    why = record["plan"].pop("why")
    assert record["plan"] == {"added": ["d-four"], "changed": ["b-two"],
                              "removed": ["c-three"], "unchanged": ["a-one"]}
    assert why["b-two"].startswith("command sleep 3600 → sleep 3601")
    after = host.pids()
    assert after["a-one:a-one_00"] == before["a-one:a-one_00"]
    assert after["a-one:a-one_01"] == before["a-one:a-one_01"]
    assert after["b-two:b-two_00"] != before["b-two:b-two_00"]
    assert "c-three:c-three_00" not in after
    assert not (host.include_dir / "c-three.conf").exists()
    wait_running(host, v2)
    # The current bundle, the previous one (rollback) and the one before are kept.
    kept = [(host.state_dir / "current").resolve().name]
    for n in (3, 4):
        v = {"a-one": Group(numprocs=2), f"n-{n}": Group()}
        assert _deploy(cli, make_bundle(tmp_path / f"v{n}", host, v, revision=f"r{n}")
                       ).exit_code == 0
        kept.append((host.state_dir / "current").resolve().name)
    assert sorted(p.name for p in (host.state_dir / "bundles").iterdir()) == sorted(kept)
    assert host.pids()["a-one:a-one_00"] == before["a-one:a-one_00"]


def test_redeploying_the_same_bundle_changes_nothing(cli, host, tmp_path):
    groups = {"a-one": Group()}
    bundle = make_bundle(tmp_path / "out", host, groups)
    assert _deploy(cli, bundle).exit_code == 0
    pids = host.pids()
    result = _deploy(cli, bundle)
    assert result.exit_code == 0
    assert json.loads(result.output)["result"] == "unchanged"
    assert host.pids() == pids


def test_dry_run_prints_the_plan_and_changes_nothing(cli, host, tmp_path):
    bundle = make_bundle(tmp_path / "out", host, {"a-one": Group()})
    result = cli("deploy", str(bundle), "--host", "test-host", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "added: a-one" in result.output and "dry-run" in result.output
    assert not host.state_dir.exists()
    assert snapshot(host.include_dir) == {}
    assert host.pids() == {}


def test_supervisord_not_running_is_a_clear_error_and_changes_nothing(cli, tmp_path):
    sup = start_supervisord(tmp_path)
    host = Host(sup, tmp_path / "host")
    sup.stop()
    bundle = make_bundle(tmp_path / "out", host, {"a-one": Group()})
    result = _deploy(cli, bundle)
    assert result.exit_code == 1
    assert "cannot reach supervisord at unix://" in result.output
    assert "Traceback" not in result.output
    assert not host.state_dir.exists()
    assert snapshot(host.include_dir) == {}


def test_foreign_unparsable_file_blocks_reload_and_nothing_changes(cli, host, tmp_path):
    groups = {"a-one": Group()}
    assert _deploy(cli, make_bundle(tmp_path / "v1", host, groups)).exit_code == 0
    pids = host.pids()
    (host.include_dir / "zz-broken.conf").write_text("[program:broken\ncommand=x\n")
    state = snapshot(host.state_dir)
    links = snapshot(host.include_dir)
    v2 = {"a-one": Group(command="sleep 3602"), "b-two": Group()}
    result = _deploy(cli, make_bundle(tmp_path / "v2", host, v2))
    assert result.exit_code == 1
    assert "cannot re-read its configuration" in result.output
    assert "zz-broken.conf" in result.output and "Nothing was changed" in result.output
    assert snapshot(host.state_dir) == state
    assert snapshot(host.include_dir) == links
    assert host.pids() == pids


def test_a_foreign_file_where_a_link_must_go_is_refused(cli, host, tmp_path):
    (host.include_dir / "a-one.conf").write_text("[program:a-one]\ncommand=sleep 99\n")
    result = _deploy(cli, make_bundle(tmp_path / "v1", host, {"a-one": Group()}))
    assert result.exit_code == 1
    assert "a-one.conf exists and is not managed by hznctl" in result.output
    assert (host.include_dir / "a-one.conf").read_text().startswith("[program:a-one]")
    assert not (host.state_dir / "current").exists()


def test_a_foreign_section_merging_into_a_program_is_refused_on_a_first_deploy(
        cli, host, tmp_path):
    # A hand-written file left from before hznctl, sorting after ours: supervisord would
    # merge its section into ours and run its command.
    canary = "--password=canary-legacy-3f9a"
    (host.include_dir / "zz-legacy.conf").write_text(
        f"[program:a-one]\ncommand=sleep 4242 {canary}\nstartsecs=0\n")
    result = _deploy(cli, make_bundle(tmp_path / "v1", host, {"a-one": Group(),
                                                               "b-two": Group()}))
    assert result.exit_code == 1
    # Only what differs (startsecs=0 is what the bundle says too), and only a-one.
    assert "otherwise than their files say: a-one (command)." in result.output
    assert "b-two" not in result.output
    assert "section of the same name" in result.output
    assert "Nothing was changed" in result.output and "Traceback" not in result.output
    assert canary not in result.output and "4242" not in result.output
    assert not (host.state_dir / "current").exists()
    assert sorted(p.name for p in host.include_dir.iterdir()) == ["zz-legacy.conf"]
    assert host.pids() == {}


def test_a_foreign_section_appearing_later_blocks_the_next_deploy(cli, host, tmp_path):
    v1 = {"a-one": Group(numprocs=2)}
    assert _deploy(cli, make_bundle(tmp_path / "v1", host, v1)).exit_code == 0
    pids = host.pids()
    (host.include_dir / "zz-legacy.conf").write_text(
        "[program:a-one]\ncommand=sleep 99\nstopwaitsecs=1\n")
    state, links = snapshot(host.state_dir), snapshot(host.include_dir)
    # a-one is unchanged in the bundle, but supervisord would restart it merged.
    v2 = {"a-one": Group(numprocs=2), "b-two": Group()}
    result = _deploy(cli, make_bundle(tmp_path / "v2", host, v2, revision="r2"))
    assert result.exit_code == 1
    assert "a-one (command, stopwaitsecs)" in result.output
    assert "Nothing was changed" in result.output
    assert snapshot(host.state_dir) == state and snapshot(host.include_dir) == links
    assert host.pids() == pids
    # Once the section is gone, the same deploy goes through and a-one keeps running.
    (host.include_dir / "zz-legacy.conf").unlink()
    result = _deploy(cli, make_bundle(tmp_path / "v2", host, v2, revision="r2"))
    assert result.exit_code == 0, result.output
    after = host.pids()
    assert {k: after[k] for k in pids} == pids and "b-two:b-two_00" in after


def test_programs_not_managed_by_hznctl_are_never_touched(cli, host, tmp_path):
    (host.include_dir / "foreign.conf").write_text(
        "[program:foreign]\ncommand=sleep 3600\nstartsecs=0\n")
    host.sup.rpc().supervisor.reloadConfig()
    host.sup.rpc().supervisor.addProcessGroup("foreign")
    wait_for_state(host, "foreign:foreign", "RUNNING")
    foreign_pid = host.pids()["foreign:foreign"]
    # A second foreign file the operator has not applied yet must stay unapplied.
    (host.include_dir / "pending.conf").write_text("[program:pending]\ncommand=sleep 3600\n")
    assert _deploy(cli, make_bundle(tmp_path / "v1", host, {"a-one": Group()})).exit_code == 0
    v2 = {"b-two": Group()}
    assert _deploy(cli, make_bundle(tmp_path / "v2", host, v2)).exit_code == 0
    pids = host.pids()
    assert pids["foreign:foreign"] == foreign_pid
    assert "pending:pending" not in pids and "a-one:a-one_00" not in pids
    assert (host.include_dir / "foreign.conf").is_file()
    assert (host.include_dir / "pending.conf").is_file()


def test_a_worker_that_crashes_at_start_rolls_back(cli, host, tmp_path):
    v1 = {"a-one": Group(), "b-two": Group()}
    assert _deploy(cli, make_bundle(tmp_path / "v1", host, v1)).exit_code == 0
    before = host.pids()
    v1_bundle = (host.state_dir / "current").resolve().name
    v2 = {"a-one": Group(), "b-two": Group(command="sh -c 'exit 3'", startsecs=1),
          "c-new": Group()}
    result = _deploy(cli, make_bundle(tmp_path / "v2", host, v2, revision="r2"))
    assert result.exit_code == 1
    record = json.loads(result.output.split("\nhznctl: error:")[0])
    assert record["result"] == "rolled-back"
    assert "b-two_00 failed to start" in record["error"]
    assert "rolled back to the previous bundle" in result.output
    assert (host.state_dir / "current").resolve().name == v1_bundle
    wait_running(host, v1)
    after = host.pids()
    assert after["a-one:a-one_00"] == before["a-one:a-one_00"]
    assert "c-new:c-new_00" not in after
    assert not (host.include_dir / "c-new.conf").exists()
    assert host.records()[-1]["result"] == "rolled-back"


def test_a_first_deploy_that_fails_leaves_nothing_running(cli, host, tmp_path):
    bad = {"a-one": Group(command="sh -c 'exit 3'", startsecs=1)}
    result = _deploy(cli, make_bundle(tmp_path / "v1", host, bad))
    assert result.exit_code == 1
    assert json.loads(result.output.split("\nhznctl: error:")[0])["result"] == "rolled-back"
    assert host.pids() == {}
    assert not (host.state_dir / "current").exists()
    assert snapshot(host.include_dir) == {}


def wait_for_state(host: Host, name: str, state: str) -> None:
    from tests.support import wait_for

    wait_for(lambda: host.states().get(name) == state, timeout=15, what=f"{name} {state}")


def test_http_supervisord_with_credentials(cli, tmp_path):
    from tests.support import free_port

    port = free_port()
    sup = start_supervisord(tmp_path, extra_config=(
        f"\n[inet_http_server]\nport=127.0.0.1:{port}\nusername=deployer\n"
        "password=s3cret-canary\n"))
    try:
        host = Host(sup, tmp_path / "host")
        bundle = make_bundle(tmp_path / "out", host, {"a-one": Group()})
        url = f"http://127.0.0.1:{port}"
        wrong = tmp_path / "wrong"
        wrong.write_text("nope-canary\n")
        refused = cli("deploy", str(bundle), "--host", "test-host", "--supervisor-url", url,
                      "--username", "deployer", "--password-file", str(wrong))
        assert refused.exit_code == 1
        assert "answered HTTP 401" in refused.output and "--password-file" in refused.output
        assert "canary" not in refused.output
        assert not host.state_dir.exists()
        secret = tmp_path / "password"
        secret.write_text("s3cret-canary\n")
        result = cli("deploy", str(bundle), "--host", "test-host", "--supervisor-url", url,
                     "--username", "deployer", "--password-file", str(secret),
                     "--format", "json")
        assert result.exit_code == 0, result.output
        assert "canary" not in result.output
        assert "canary" not in (host.state_dir / "deploys.jsonl").read_text()
        wait_running(host, {"a-one": Group()})
        status = cli("status", "--state-dir", str(host.state_dir), "--supervisor-url", url,
                     "--username", "deployer", "--password-file", str(secret))
        assert status.exit_code == 0, status.output
    finally:
        sup.stop()


def test_a_corrupt_bundle_is_refused_and_nothing_changes(cli, host, tmp_path):
    bundle = make_bundle(tmp_path / "out", host, {"a-one": Group()})
    (bundle / "exec" / "a-one.json").write_text('{"tampered": true}')
    result = _deploy(cli, bundle)
    assert result.exit_code == 1
    assert "does not match the hash in its manifest" in result.output
    assert not (host.state_dir / "current").exists()
    assert snapshot(host.include_dir) == {}
    assert host.pids() == {}


def test_another_hosts_bundle_is_refused(cli, host, tmp_path):
    import json as _json

    assert _deploy(cli, make_bundle(tmp_path / "v1", host, {"a-one": Group()})).exit_code == 0
    other = make_bundle(tmp_path / "v2", host, {"b-two": Group()})
    manifest = _json.loads((other / "manifest.json").read_text())
    manifest["host"] = "some-other-host"
    (other / "manifest.json").write_text(_json.dumps(manifest))
    result = _deploy(cli, other)
    assert result.exit_code == 1
    assert ("this bundle is for host 'some-other-host', and this machine is 'test-host'"
            in result.output)
    assert "b-two:b-two_00" not in host.pids()


def test_an_include_folder_supervisord_does_not_read_is_reported(cli, host, tmp_path):
    bundle = make_bundle(tmp_path / "out", host, {"a-one": Group()})
    elsewhere = tmp_path / "not-included"
    result = _deploy(cli, bundle, "--include-dir", str(elsewhere))
    assert result.exit_code == 1
    record = json.loads(result.output.split("\nhznctl: error:")[0])
    assert record["result"] == "rolled-back"
    assert "supervisord does not read the program files of a-one" in record["error"]
    assert "[include] files glob must match" in record["error"]
    assert host.pids() == {}
    assert snapshot(elsewhere) == {}


def test_a_process_already_stopping_that_no_bundle_names_is_waited_for(cli, host, tmp_path):
    """Stopping a changed group watches the processes supervisord was asked to stop and
    those the bundles name. One already STOPPING that neither names (it ignores SIGTERM,
    and the new bundle has fewer processes) makes supervisord refuse to remove the group
    (STILL_RUNNING, rpcinterface.py ``removeProcessGroup``): deploy then waits for every
    process supervisord lists for the group, SIGKILL after stopwaitsecs included, and goes
    on."""
    # Process 01 ignores SIGTERM (SIGKILL after stopwaitsecs ends it), 00 does not.
    stubborn = (f"{sys.executable} -c 'import signal, sys, time; "
                "sys.argv[1] == \"1\" and signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "time.sleep(3600)' %(process_num)d")
    # startsecs: RUNNING only once Python has set its handler.
    v1 = {"a-one": Group(command=stubborn, numprocs=2, startsecs=2, stopwaitsecs=4)}
    assert _deploy(cli, make_bundle(tmp_path / "v1", host, v1)).exit_code == 0
    wait_running(host, v1)
    rpc = host.sup.rpc().supervisor
    rpc.stopProcess("a-one:a-one_01", False)
    assert rpc.getProcessInfo("a-one:a-one_01")["statename"] == "STOPPING"
    v2 = {"a-one": Group(command=stubborn, numprocs=1, stopwaitsecs=4)}
    result = _deploy(cli, make_bundle(tmp_path / "v2", host, v2, revision="r2"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["result"] == "ok"
    wait_running(host, v2)
    assert sorted(host.pids()) == ["a-one:a-one_00"]
