"""Whatever is done by hand to an installed bundle, the next `hznctl deploy` puts the host
back on its bundle (restarting the groups it touched, saying why) or refuses, and
`hznctl status` sees it first. Real supervisord, hand-written command-runtime bundles.

Tampering is done as an operator with a shell would: through the program links of the
include folder, in the bundle folders, then `supervisorctl update` (re-read, remove and
re-add the group) so that supervisord runs the edited file."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path

import pytest

from tests.integration.deploy_fixtures import Group, Host, make_bundle, wait_running
from tests.support import wait_for

pytestmark = pytest.mark.integration

V1 = {"a-one": Group(), "b-two": Group()}


@pytest.fixture
def host(supervisord, tmp_path) -> Host:
    return Host(supervisord, tmp_path / "host")


def _deploy(cli, bundle: Path, *args: str):
    return cli("deploy", str(bundle), "--host", "test-host", "--format", "json",
               "--settle", "0", *args)


def _record(result) -> dict:
    return json.loads(result.output.split("\nhznctl: error:")[0])


def _status(cli, host: Host):
    return cli("status", "--state-dir", str(host.state_dir), "--include-dir",
               str(host.include_dir), "--format", "json")


def _installed(host: Host) -> Path:
    return (host.state_dir / "current").resolve()


def _update(host: Host, group: str) -> None:
    """What `supervisorctl update GROUP` does: re-read, then replace the group."""
    rpc = host.sup.rpc().supervisor
    rpc.reloadConfig()
    rpc.stopProcessGroup(group)
    rpc.removeProcessGroup(group)
    rpc.addProcessGroup(group)


@contextlib.contextmanager
def _by_hand(*paths: Path):
    """Write access to read-only installed files and folders (as their owner would take it,
    `chmod u+w`), their modes put back after."""
    modes = {p: stat.S_IMODE(p.lstat().st_mode) for p in paths}
    for path in paths:
        path.chmod(modes[path] | stat.S_IWUSR)
    try:
        yield
    finally:
        for path in paths:
            if path.exists():
                path.chmod(modes[path])


def _edit(host: Host, group: str, old: str, new: str) -> None:
    """Edit a program file through its link in the include folder."""
    conf = host.include_dir / f"{group}.conf"
    with _by_hand(conf.resolve()):
        conf.write_text(conf.read_text().replace(old, new))


def _command(host: Host, process: str) -> str:
    """The command line the process runs (once the child supervisord forked has exec'd:
    with startsecs=0 it is RUNNING from the fork on)."""
    pid = host.pids()[process]

    def execed() -> str | None:
        text = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        return None if "supervisord" in text else text.strip()

    found: str = wait_for(execed, timeout=10, what=f"{process} exec'd")
    return found


def _ready(cli, host: Host, tmp_path: Path, groups=V1) -> Path:
    bundle = make_bundle(tmp_path / "v1", host, groups)
    result = _deploy(cli, bundle)
    assert result.exit_code == 0, result.output
    wait_running(host, groups)
    return bundle


def _assert_intact(host: Host, bundle: Path) -> None:
    """The installed bundle has the compiled bytes, read-only, one link per file."""
    installed = _installed(host)
    manifest = json.loads((bundle / "manifest.json").read_text())
    found = {str(p.relative_to(installed)) for p in installed.rglob("*") if not p.is_dir()}
    assert found == {*manifest["files"], "manifest.json"}
    for rel in found:
        st = (installed / rel).lstat()
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o444, rel
        assert st.st_nlink == 1, rel
        assert (installed / rel).read_bytes() == (bundle / rel).read_bytes(), rel


def test_a_hand_edited_program_file_is_put_back_and_its_group_restarted(cli, host, tmp_path):
    bundle = _ready(cli, host, tmp_path)
    _edit(host, "a-one", "sleep 3600", "sleep 4242")
    _update(host, "a-one")
    wait_for(lambda: host.states().get("a-one:a-one_00") == "RUNNING", timeout=10,
             what="edited a-one")
    assert _command(host, "a-one:a-one_00") == "sleep 4242"
    before = host.pids()
    status = _status(cli, host)
    assert status.exit_code == 1
    findings = json.loads(status.output)["findings"]
    assert {"kind": "changed-on-host", "group": "a-one", "process": None,
            "detail": "programs/a-one.conf edited on the host; `hznctl deploy` puts it back"
            } in findings

    result = _deploy(cli, bundle)  # the same bundle: it used to say `unchanged`
    assert result.exit_code == 0, result.output
    record = _record(result)
    assert record["result"] == "ok"
    assert record["plan"]["changed"] == ["a-one"] and record["plan"]["unchanged"] == ["b-two"]
    assert record["plan"]["why"]["a-one"] == "programs/a-one.conf edited on the host"
    assert record["repaired"] == ["programs/a-one.conf edited on the host"]
    wait_running(host, V1)
    after = host.pids()
    assert after["a-one:a-one_00"] != before["a-one:a-one_00"]
    assert after["b-two:b-two_00"] == before["b-two:b-two_00"]
    assert _command(host, "a-one:a-one_00") == "sleep 3600"
    _assert_intact(host, bundle)
    assert _status(cli, host).exit_code == 0
    text = cli("deploy", str(bundle), "--host", "test-host", "--settle", "0")
    assert text.exit_code == 0 and "result: unchanged" in text.output


@pytest.mark.parametrize("tamper", ["deleted", "re-permissioned", "replaced", "hard-linked"])
def test_every_kind_of_hand_change_is_converged(cli, host, tmp_path, tamper):
    bundle = _ready(cli, host, tmp_path)
    spec = _installed(host) / "exec" / "a-one.json"
    outside = tmp_path / "outside.json"
    outside.write_text('{"group": "elsewhere"}')
    with _by_hand(spec.parent):
        if tamper == "deleted":
            spec.unlink()
        elif tamper == "re-permissioned":
            spec.chmod(0o666)
        elif tamper == "replaced":
            spec.unlink()
            spec.symlink_to(outside)
        else:
            outside.unlink()
            os.link(spec, outside)  # a second name anyone may then edit
    what = {"hard-linked": "hard-linked from elsewhere"}.get(tamper, tamper)
    before = host.pids()
    result = _deploy(cli, bundle)
    assert result.exit_code == 0, result.output
    record = _record(result)
    assert record["plan"]["why"] == {"a-one": f"exec/a-one.json {what} on the host"}
    wait_running(host, V1)
    after = host.pids()
    assert after["a-one:a-one_00"] != before["a-one:a-one_00"]
    assert after["b-two:b-two_00"] == before["b-two:b-two_00"]
    _assert_intact(host, bundle)
    assert outside.read_text().startswith('{"group"')  # never written through
    assert _status(cli, host).exit_code == 0


def test_a_hand_added_program_and_stray_links_are_removed(cli, host, tmp_path):
    bundle = _ready(cli, host, tmp_path)
    programs = _installed(host) / "programs"
    with _by_hand(programs):
        (programs / "z-hand.conf").write_text(
            "[program:z-hand]\ncommand=sleep 3600\nstartsecs=0\n")
    current = host.state_dir / "current"
    (host.include_dir / "z-hand.conf").symlink_to(f"{current}/programs/z-hand.conf")
    (host.include_dir / "y-gone.conf").symlink_to(f"{current}/programs/y-gone.conf")
    (host.include_dir / "a-one.conf").unlink()
    (host.include_dir / "a-one.conf").symlink_to(f"{current}/programs/b-two.conf")
    host.sup.rpc().supervisor.reloadConfig()
    host.sup.rpc().supervisor.addProcessGroup("z-hand")
    wait_for(lambda: host.states().get("z-hand:z-hand") == "RUNNING", timeout=10,
             what="hand-added program")
    status = json.loads(_status(cli, host).output)
    details = {f["detail"] for f in status["findings"] if f["kind"] == "changed-on-host"}
    assert "programs/z-hand.conf added on the host; `hznctl deploy` puts it back" in details
    assert ("programs/a-one.conf link in the include folder changed on the host; "
            "`hznctl deploy` puts it back") in details

    result = _deploy(cli, bundle)
    assert result.exit_code == 0, result.output
    record = _record(result)
    assert "programs/z-hand.conf added on the host" in record["repaired"]
    assert record["plan"]["why"] == {
        "a-one": "programs/a-one.conf link in the include folder changed on the host"}
    assert "z-hand" in record["actions"]["removed"]
    wait_running(host, V1)
    assert "z-hand:z-hand" not in host.pids()
    assert sorted(p.name for p in host.include_dir.iterdir()) == ["a-one.conf", "b-two.conf"]
    assert os.readlink(host.include_dir / "a-one.conf") == f"{current}/programs/a-one.conf"
    _assert_intact(host, bundle)
    assert _status(cli, host).exit_code == 0


def test_a_deleted_program_link_is_put_back(cli, host, tmp_path):
    bundle = _ready(cli, host, tmp_path)
    (host.include_dir / "b-two.conf").unlink()
    status = json.loads(_status(cli, host).output)
    assert any(f["group"] == "b-two" and "link in the include folder deleted" in f["detail"]
               for f in status["findings"])
    result = _deploy(cli, bundle)
    assert result.exit_code == 0, result.output
    assert _record(result)["plan"]["changed"] == ["b-two"]
    wait_running(host, V1)
    assert (host.include_dir / "b-two.conf").is_symlink()
    assert _status(cli, host).exit_code == 0


def test_an_edited_manifest_restarts_every_group(cli, host, tmp_path):
    bundle = _ready(cli, host, tmp_path)
    manifest = _installed(host) / "manifest.json"
    with _by_hand(manifest):
        manifest.write_text(manifest.read_text().replace('"r1"', '"r-hand"'))
    before = host.pids()
    result = _deploy(cli, bundle)
    assert result.exit_code == 0, result.output
    assert _record(result)["repaired"] == ["manifest.json edited on the host"]
    wait_running(host, V1)
    after = host.pids()
    assert all(after[name] != pid for name, pid in before.items())
    _assert_intact(host, bundle)
    assert _status(cli, host).exit_code == 0


def test_a_new_bundle_never_takes_an_edited_installed_file(cli, host, tmp_path):
    """A file with the same path and hash in the installed bundle is not trusted: every
    staged file comes from the new bundle, checked against the new manifest."""
    _ready(cli, host, tmp_path)
    _edit(host, "a-one", "sleep 3600", "sleep 4242")
    v2 = {"a-one": Group(), "b-two": Group(command="sleep 3601")}
    bundle = make_bundle(tmp_path / "v2", host, v2, revision="r2")
    result = _deploy(cli, bundle)
    assert result.exit_code == 0, result.output
    record = _record(result)
    assert record["plan"]["why"]["a-one"] == "programs/a-one.conf edited on the host"
    assert record["plan"]["changed"] == ["a-one", "b-two"]
    wait_running(host, v2)
    assert _command(host, "a-one:a-one_00") == "sleep 3600"
    _assert_intact(host, bundle)
    # No installed file shares an inode with the compiled bundle or the previous bundle.
    inodes = {p.stat().st_ino for p in bundle.rglob("*") if p.is_file()}
    previous = (host.state_dir / "previous").resolve()
    inodes |= {p.stat().st_ino for p in previous.rglob("*") if p.is_file()}
    assert not inodes & {p.stat().st_ino for p in _installed(host).rglob("*") if p.is_file()}
    # The previous bundle (the rollback target) was put back as staged too.
    assert (previous / "programs/a-one.conf").read_text() == (
        bundle / "programs/a-one.conf").read_text()
    assert _status(cli, host).exit_code == 0


def test_a_rollback_after_tampering_restores_the_verified_old_bundle(cli, host, tmp_path):
    v1_bundle = _ready(cli, host, tmp_path)
    v1_dir = _installed(host)
    _edit(host, "a-one", "sleep 3600", "sleep 4242")
    _update(host, "a-one")
    wait_for(lambda: host.states().get("a-one:a-one_00") == "RUNNING", timeout=10,
             what="edited a-one")
    v2 = {**V1, "c-bad": Group(command="false", startsecs=1)}
    result = _deploy(cli, make_bundle(tmp_path / "v2", host, v2, revision="r2"))
    assert result.exit_code == 1
    record = _record(result)
    assert record["result"] == "rolled-back", record
    assert _installed(host) == v1_dir
    wait_running(host, V1)
    assert "c-bad:c-bad_00" not in host.pids()
    assert _command(host, "a-one:a-one_00") == "sleep 3600"
    _assert_intact(host, v1_bundle)
    assert _status(cli, host).exit_code == 0


def test_a_rollback_target_that_cannot_be_verified_is_not_used(cli, host, tmp_path):
    _ready(cli, host, tmp_path)
    v1_dir = _installed(host)
    _edit(host, "a-one", "sleep 3600", "sleep 4242")
    # a-one changes too: no verified copy of the old a-one.conf is left anywhere.
    v2 = {"a-one": Group(command="sleep 3602"), "b-two": Group(),
          "c-bad": Group(command="false", startsecs=1)}
    result = _deploy(cli, make_bundle(tmp_path / "v2", host, v2, revision="r2"))
    assert result.exit_code == 1
    record = _record(result)
    assert record["result"] == "failed"
    assert record["rollback_error"].startswith(
        f"not rolled back: the bundle that ran before ({v1_dir.name}) was changed on the "
        "host, and no verified copy of programs/a-one.conf is left")
    assert "rollback failed too: not rolled back" in result.output
    assert _installed(host) != v1_dir  # never switched back to the edited bundle
