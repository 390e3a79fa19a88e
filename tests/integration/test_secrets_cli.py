"""`hznctl secrets …` end to end: real sops binary, real age keys made here."""

from __future__ import annotations

import json
import re
import stat

import pytest

from hznctl.secrets.decrypt import clear_cache, decrypt_file, load_identities
from hznctl.secrets.structure import inspect_file
from tests.support import DEMO_KEYS

pytestmark = pytest.mark.integration

CANARY = "Cl1-canary:@/#%?&= pass"
RUNNER = DEMO_KEYS / "health-runner.agekey"


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def _plain(path, key_file):
    clear_cache()
    return decrypt_file(path, load_identities([key_file]))


def _add_host(inv, name, *, recipient_line=True):
    text = (inv / "hosts" / "worker-eu-2.yaml").read_text().replace("worker-eu-2", name)
    if not recipient_line:
        text = re.sub(r"age_recipient: \S+\n", "", text)
    (inv / "hosts" / f"{name}.yaml").write_text(text)


def test_keygen_writes_a_private_key_0600_and_records_the_host(cli, example_inventory, tmp_path):
    _add_host(example_inventory, "worker-eu-3", recipient_line=False)
    key = tmp_path / "keys" / "eu3.agekey"
    result = cli("secrets", "keygen", str(example_inventory), "--host", "worker-eu-3",
                 "--out", str(key), "--write")
    assert result.exit_code == 0, result.output
    recipient = result.stdout.strip().splitlines()[0]
    assert re.fullmatch(r"age1[0-9a-z]{58}", recipient)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert load_identities([key]).recipients == (recipient,)
    assert f"age_recipient: {recipient}" in (example_inventory / "hosts/worker-eu-3.yaml"
                                            ).read_text()
    private = key.read_text()
    assert "AGE-SECRET-KEY" not in result.output and private.split()[-1] not in result.output
    again = cli("secrets", "keygen", "--host", "worker-eu-3", "--out", str(key))
    assert again.exit_code == 1 and "already exists" in again.output
    assert key.read_text() == private


def test_keygen_for_the_runner_adds_a_recipient(cli, example_inventory, tmp_path):
    result = cli("secrets", "keygen", str(example_inventory), "--runner", "--write",
                 "--out", str(tmp_path / "runner.agekey"))
    assert result.exit_code == 0, result.output
    recipient = result.stdout.strip().splitlines()[0]
    project = (example_inventory / "project.yaml").read_text()
    assert f"    - {recipient}\n" in project and "# The scheduled health runner" in project
    # The new runner key cannot read anything yet: validate says so, sync fixes it.
    assert cli("validate", str(example_inventory)).exit_code == 1
    synced = cli("secrets", "sync", str(example_inventory), "--identity", str(RUNNER))
    assert synced.exit_code == 0, synced.output
    assert cli("validate", str(example_inventory)).exit_code == 0
    for path in (example_inventory / "secrets").glob("redis-*.yaml"):
        assert _plain(path, tmp_path / "runner.agekey")["password"] == f"demo-{path.stem}-password"


def test_set_reads_stdin_and_encrypts_for_exactly_the_right_keys(cli, example_inventory):
    result = cli("secrets", "set", "redis-main", str(example_inventory), input=CANARY + "\n")
    assert result.exit_code == 0, result.output
    assert CANARY not in result.output
    path = example_inventory / "secrets" / "redis-main.yaml"
    assert CANARY not in path.read_text()
    readers = ("worker-eu-1", "worker-eu-2", "cluster-eu", "health-runner")
    for name in readers:
        assert _plain(path, DEMO_KEYS / f"{name}.agekey") == {"password": CANARY}
    with pytest.raises(Exception, match="is among its recipients"):
        _plain(path, DEMO_KEYS / "worker-staging-1.agekey")
    assert inspect_file(path).recipients == {
        load_identities([DEMO_KEYS / f"{n}.agekey"]).recipients[0] for n in readers}
    assert cli("validate", str(example_inventory)).exit_code == 0


def test_set_adds_the_reference_for_a_new_connection(cli, example_inventory):
    conn = example_inventory / "connections" / "redis-main.yaml"
    new = example_inventory / "connections" / "redis-new.yaml"
    new.write_text(re.sub(r"password:\n  sops: .*\n  key: password\n", "",
                          conn.read_text().replace("redis-main", "redis-new")))
    result = cli("secrets", "set", "redis-new", str(example_inventory), input=CANARY)
    assert result.exit_code == 0, result.output
    assert "password:\n  sops: secrets/redis-new.yaml\n  key: password\n" in new.read_text()
    assert _plain(example_inventory / "secrets/redis-new.yaml", RUNNER) == {"password": CANARY}
    assert "redis\\-new" in (example_inventory / ".sops.yaml").read_text()
    assert cli("validate", str(example_inventory)).exit_code == 0


def test_set_keeps_other_keys_of_a_shared_file(cli, example_inventory):
    from tests.support import sops_encrypt

    path = example_inventory / "secrets" / "redis-main.yaml"
    recipients = sorted(inspect_file(path).recipients)
    sops_encrypt({"password": "old", "other": "keep-me"}, recipients, path)
    result = cli("secrets", "set", "redis-main", str(example_inventory), "--identity",
                 str(RUNNER), input=CANARY)
    assert result.exit_code == 0, result.output
    assert _plain(path, DEMO_KEYS / "worker-eu-1.agekey") == {"password": CANARY,
                                                             "other": "keep-me"}


def test_set_refuses_an_empty_password_and_unknown_connection(cli, example_inventory):
    before = (example_inventory / "secrets/redis-main.yaml").read_bytes()
    assert cli("secrets", "set", "redis-main", str(example_inventory), input="").exit_code == 2
    missing = cli("secrets", "set", "nope", str(example_inventory), input="x")
    assert missing.exit_code == 1 and "no connection 'nope'" in missing.output
    assert (example_inventory / "secrets/redis-main.yaml").read_bytes() == before


def test_status_and_sync_after_a_placement_change(cli, example_inventory, tmp_path):
    from tests.support import make_age_key

    key = make_age_key(tmp_path / "eu9.agekey")
    _add_host(example_inventory, "worker-eu-9")
    host = example_inventory / "hosts" / "worker-eu-9.yaml"
    host.write_text(re.sub(r"age_recipient: \S+", f"age_recipient: {key.recipient}",
                           host.read_text()))
    # worker-eu-2 leaves: its key is now extra.
    eu2 = example_inventory / "hosts" / "worker-eu-2.yaml"
    eu2.write_text(eu2.read_text().replace("environment: production",
                                           "environment: production\nactive: false"))
    status = cli("secrets", "status", str(example_inventory), "--format", "json")
    assert status.exit_code == 1
    report = {f["file"]: f for f in json.loads(status.output)["files"]}
    main = report["secrets/redis-main.yaml"]
    assert [m["who"] for m in main["missing"]] == ["host worker-eu-9"]
    assert [e["who"] for e in main["extra"]] == ["host worker-eu-2"]
    check = cli("secrets", "sync", str(example_inventory), "--check")
    assert check.exit_code == 1 and "would update" in check.output
    synced = cli("secrets", "sync", str(example_inventory), "--identity", str(RUNNER))
    assert synced.exit_code == 0, synced.output
    assert ("secrets/redis-main.yaml: updated (1 recipient(s) added, 1 removed)"
            in synced.output)
    assert cli("secrets", "status", str(example_inventory)).exit_code == 0
    path = example_inventory / "secrets" / "redis-main.yaml"
    assert _plain(path, key.path) == {"password": "demo-redis-main-password"}
    with pytest.raises(Exception, match="is among its recipients"):
        _plain(path, DEMO_KEYS / "worker-eu-2.agekey")
    assert not list(example_inventory.glob(".hznctl-sops-*"))


def test_sync_without_a_key_fails_clearly_and_changes_nothing(cli, example_inventory, tmp_path):
    _add_host(example_inventory, "worker-eu-9")
    host = example_inventory / "hosts" / "worker-eu-9.yaml"
    host.write_text(re.sub(r"age_recipient: \S+", "age_recipient: " + "age1" + "q" * 58,
                           host.read_text()))
    before = (example_inventory / "secrets/redis-main.yaml").read_bytes()
    from tests.support import make_age_key

    stranger = make_age_key(tmp_path / "stranger.agekey")
    result = cli("secrets", "sync", str(example_inventory), "--identity", str(stranger.path))
    assert result.exit_code == 1
    assert "cannot update the recipients of secrets/redis-main.yaml" in result.output
    assert (example_inventory / "secrets/redis-main.yaml").read_bytes() == before
    assert not list(example_inventory.glob(".hznctl-sops-*"))


def test_rotate_changes_the_data_key_not_the_password(cli, example_inventory):
    path = example_inventory / "secrets" / "redis-jobs.yaml"
    before = path.read_text()
    result = cli("secrets", "rotate", str(example_inventory), "--connection", "redis-jobs",
                 "--identity", str(RUNNER))
    assert result.exit_code == 0, result.output
    after = path.read_text()
    enc = re.compile(r"password: (ENC\[.*\])")
    assert enc.search(before).group(1) != enc.search(after).group(1)
    assert _plain(path, RUNNER) == {"password": "demo-redis-jobs-password"}
    assert inspect_file(path).recipients == {
        r for r in re.findall(r"recipient: (\S+)", before)}
    rotated = cli("secrets", "rotate", str(example_inventory), "--connection", "redis-jobs",
                  "--password", input=CANARY)
    assert rotated.exit_code == 0, rotated.output
    assert _plain(path, RUNNER) == {"password": CANARY}


def test_set_refuses_to_replace_an_unusable_file(cli, example_inventory):
    path = example_inventory / "secrets" / "redis-main.yaml"
    path.write_text("password: plaintext-left-here\nother: value\n")
    result = cli("secrets", "set", "redis-main", str(example_inventory), input=CANARY)
    assert result.exit_code == 1
    assert "is not a usable SOPS file" in result.output and CANARY not in result.output
    assert "plaintext-left-here" not in result.output
    assert path.read_text() == "password: plaintext-left-here\nother: value\n"


def test_sync_leaves_files_with_pgp_keys_alone(cli, example_inventory):
    path = example_inventory / "secrets" / "redis-main.yaml"
    text = path.read_text().replace(
        "    lastmodified:", "    pgp:\n        - created_at: \"2026-01-01T00:00:00Z\"\n"
        "          enc: x\n          fp: 0123456789ABCDEF\n    lastmodified:")
    path.write_text(text)
    _add_host(example_inventory, "worker-eu-9")
    host = example_inventory / "hosts" / "worker-eu-9.yaml"
    host.write_text(re.sub(r"age_recipient: \S+", "age_recipient: " + "age1" + "q" * 58,
                           host.read_text()))
    result = cli("secrets", "sync", str(example_inventory), "--identity", str(RUNNER))
    assert result.exit_code == 0, result.output
    assert "secrets/redis-main.yaml: skipped: it also has pgp keys" in result.output
    assert path.read_text() == text


@pytest.mark.timeout(60)
def test_a_sops_config_that_is_not_a_regular_file_is_out_of_date_not_a_hang(
        cli, example_inventory):
    # A FIFO in place of .sops.yaml would block a plain read forever; a folder would raise.
    import os

    config = example_inventory / ".sops.yaml"
    config.unlink()
    os.mkfifo(config)
    status = cli("secrets", "status", str(example_inventory), "--format", "json")
    assert status.exit_code == 1, status.output
    assert json.loads(status.output)["sops_config_up_to_date"] is False
    check = cli("secrets", "sync", str(example_inventory), "--check")
    assert check.exit_code == 1, check.output
    assert stat.S_ISFIFO(config.lstat().st_mode)  # --check changed nothing
    synced = cli("secrets", "sync", str(example_inventory), "--identity", str(RUNNER))
    assert synced.exit_code == 0, synced.output
    assert config.is_file() and not config.is_symlink()
    assert cli("secrets", "status", str(example_inventory)).exit_code == 0
