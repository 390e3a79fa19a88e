"""The state folder's files are never opened through a link, and the folder itself must be
a real folder of the user who deploys, writable by nobody else."""

from __future__ import annotations

import os

import pytest

from hznctl.deploy import identity, statedir
from hznctl.deploy.lock import deploy_lock
from hznctl.deploy.statedir import StateError


@pytest.fixture
def state(tmp_path):
    path = tmp_path / "state"
    path.mkdir(mode=0o755)
    path.chmod(0o755)
    return path


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "victim"
    path.write_text("precious\n")
    return path


def test_writes_and_appends_never_go_through_a_link(state, victim):
    (state / "deploys.jsonl").symlink_to(victim)
    with pytest.raises(StateError, match="is a symbolic link"):
        statedir.append_line(state / "deploys.jsonl", "{}")
    (state / "deploy.json").symlink_to(victim)
    with pytest.raises(StateError, match="is a symbolic link"):
        statedir.read_small(state / "deploy.json")
    # An atomic write replaces the link itself, never its target.
    statedir.write_atomic(state / "deploy.json", b"{}")
    assert not (state / "deploy.json").is_symlink()
    assert victim.read_text() == "precious\n"


def test_the_lock_and_the_identity_refuse_links(state, victim):
    (state / "deploy.lock").symlink_to(victim)
    with pytest.raises(StateError, match="is a symbolic link"), deploy_lock(state, timeout=0):
        pass
    (state / "host").symlink_to(victim)
    with pytest.raises(StateError, match="is a symbolic link"):
        identity.read(state)
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("name", ["deploys.jsonl", "deploy.lock", "deploy.json", "host",
                                  "current", "previous", "bundles"])
def test_every_entry_is_checked_up_front(state, victim, name):
    (state / name).symlink_to(victim)
    with pytest.raises(StateError) as error:
        statedir.check_entries(state)
    assert str(state / name) in str(error.value)
    assert "Nothing was changed" in str(error.value)


def test_a_folder_others_may_write_or_a_link_is_refused(tmp_path, state):
    state.chmod(0o777)
    with pytest.raises(StateError, match="chmod go-w"):
        statedir.ensure_state_dir(state, create=False)
    state.chmod(0o755)
    assert statedir.ensure_state_dir(state, create=False)
    link = tmp_path / "link"
    link.symlink_to(state)
    with pytest.raises(StateError, match="is a symbolic link"):
        statedir.ensure_state_dir(link, create=True)
    assert not statedir.ensure_state_dir(tmp_path / "absent", create=False)
    created = tmp_path / "new" / "state"
    old = os.umask(0o002)
    try:
        assert statedir.ensure_state_dir(created, create=True)
    finally:
        os.umask(old)
    assert created.stat().st_mode & 0o777 == 0o755


def test_the_host_name_is_checked_and_written_once(state):
    with pytest.raises(identity.IdentityError, match="does not know its name yet"):
        identity.resolve(state, "web-1", None, None)
    assert identity.resolve(state, "web-1", "web-1", None) == ("web-1", True)
    identity.write(state, "web-1")
    assert identity.resolve(state, "web-1", None, None) == ("web-1", False)
    with pytest.raises(identity.IdentityError, match="this bundle is for host 'web-2'"):
        identity.resolve(state, "web-2", None, None)
    with pytest.raises(identity.IdentityError, match="--host web-2 but this machine is"):
        identity.resolve(state, "web-2", "web-2", None)
    with pytest.raises(identity.IdentityError, match="not a host name"):
        identity.resolve(state, "x", "bad name\n", None)
