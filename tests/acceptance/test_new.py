"""`hznctl new`: objects written from flags, validated first, never overwriting, secrets
encrypted through `secrets set` with the real sops binary."""

from __future__ import annotations

import pytest
import yaml

from hznctl.secrets.decrypt import clear_cache, decrypt_value, load_identities
from tests.support import DEMO_KEYS, collect_text, make_age_key

pytestmark = pytest.mark.timeout(120)
EU1 = "age1g72upzyl0a2uqfarcx0gl9854mn7tktqdrj754gqu79mc9r83shqnr2fkv"


@pytest.fixture
def repo(cli, tmp_path):
    root = tmp_path / "queues"
    assert cli("init", str(root), "--environment", "production").exit_code == 0
    return root


def files_of(root):
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_host_is_written_and_validates(cli, repo):
    inv = repo / "inventory"
    result = cli("new", "host", "worker-1", "--environment", "production", "--label",
                 "role=queue", "--age-recipient", EU1, "-i", str(inv))
    assert result.exit_code == 0, result.output
    text = (inv / "hosts/worker-1.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=../../schemas/host.schema.json\n")
    assert yaml.safe_load(text) == {"name": "worker-1", "environment": "production",
                                    "labels": {"role": "queue"}, "age_recipient": EU1}
    assert "runs no worker group" in result.output  # a warning, shown but not fatal
    assert cli("validate", str(inv)).exit_code == 0


def test_existing_file_is_never_overwritten(cli, repo):
    inv = repo / "inventory"
    args = ("new", "host", "worker-1", "--environment", "production", "-i", str(inv))
    assert cli(*args).exit_code == 0
    before = files_of(repo)
    result = cli(*args[:4], "staging", "-i", str(inv))
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert files_of(repo) == before


def test_invalid_values_are_refused_with_their_place_and_nothing_written(cli, repo):
    inv = repo / "inventory"
    before = files_of(repo)
    result = cli("new", "host", "worker-1", "--environment", "qa", "-i", str(inv))
    assert result.exit_code == 1
    assert "hosts/worker-1.yaml:3:14: environment: unknown environment 'qa'" in result.output
    assert "nothing was written" in result.output
    assert files_of(repo) == before
    result = cli("new", "application", "billing", "--runtime", "rq", "--environment",
                 "production", "--directory", "srv/relative", "--connection", "nowhere",
                 "-i", str(inv))
    assert result.exit_code == 1
    assert "applications/billing.yaml:" in result.output and "directory" in result.output
    assert files_of(repo) == before


def test_connection_password_is_encrypted_never_written_in_clear(cli, repo):
    inv = repo / "inventory"
    password = "canary-Zq8-password"
    result = cli("new", "connection", "redis-main", "--host", "redis.internal",
                 "--environment", "production", "--username", "queues", "-i", str(inv),
                 input=password + "\n")
    assert result.exit_code == 0, result.output
    assert password not in result.output
    for path, data in collect_text([repo]):
        assert password.encode() not in data, path
    connection = yaml.safe_load((inv / "connections/redis-main.yaml").read_text())
    assert connection["password"] == {"sops": "secrets/redis-main.yaml", "key": "password"}
    clear_cache()
    runner = load_identities([repo / ".hznctl/health-runner.agekey"])
    assert decrypt_value(inv / "secrets/redis-main.yaml", "password", runner) == password
    assert cli("validate", str(inv), "--strict").exit_code == 0
    assert cli("secrets", "status", str(inv)).exit_code == 0


def test_connection_without_password(cli, repo):
    inv = repo / "inventory"
    result = cli("new", "connection", "redis-cache", "--host", "10.0.0.5", "--environment",
                 "production", "--no-password", "-i", str(inv))
    assert result.exit_code == 0, result.output
    assert "password" not in (inv / "connections/redis-cache.yaml").read_text()
    assert not (inv / "secrets/redis-cache.yaml").exists()


def test_application_and_worker(cli, repo):
    inv = repo / "inventory"
    assert cli("new", "connection", "redis-main", "--host", "redis.internal",
               "--environment", "production", "-i", str(inv), input="pw\n").exit_code == 0
    result = cli("new", "application", "reports", "--runtime", "rq", "--environment",
                 "production", "--directory", "/srv/reports", "--connection", "redis-main",
                 "--name", "Reports", "-i", str(inv))
    assert result.exit_code == 0, result.output
    result = cli("new", "worker", "reports", "exports", "--queue", "exports-high", "--queue",
                 "exports", "--processes", "2", "--timeout", "600", "-i", str(inv))
    assert result.exit_code == 0, result.output
    app = yaml.safe_load((inv / "applications/reports.yaml").read_text())
    assert app["connections"] == [{"connection": "redis-main", "primary": True}]
    assert app["workers"] == [{"name": "exports", "queues": ["exports-high", "exports"],
                               "min_processes": 2, "max_processes": 2, "timeout": 600}]
    result = cli("new", "worker", "reports", "exports", "--queue", "x", "-i", str(inv))
    assert result.exit_code == 1 and "already has a worker group 'exports'" in result.output


def test_worker_is_appended_keeping_the_operators_comments(cli, example_inventory):
    path = example_inventory / "applications/billing.yaml"
    before = path.read_text()
    result = cli("new", "worker", "billing", "exports", "--queue", "exports", "--host",
                 "worker-eu-1", "-i", str(example_inventory))
    assert result.exit_code == 0, result.output
    after = path.read_text()
    assert after.startswith(before)  # every line as it was, the new group after them
    assert after[len(before):] == ("  - name: exports\n    queues: [exports]\n"
                                   "    hosts: [worker-eu-1]\n")


def test_new_reader_needs_the_secret_re_encrypted(cli, example_inventory):
    # worker-batch-1 runs nothing on redis-main: placing a billing worker there needs
    # secrets/redis-main.yaml encrypted for it, which takes a key that can read the file.
    args = ("new", "worker", "billing", "batch", "--queue", "batch", "--host",
            "worker-batch-1", "-i", str(example_inventory))
    before = files_of(example_inventory)
    refused = cli(*args, env={"HZNCTL_AGE_KEY_FILE": "", "SOPS_AGE_KEY_FILE": ""})
    assert refused.exit_code == 2
    assert ("hznctl: error: secrets/redis-main.yaml must be re-encrypted for host "
            "worker-batch-1, which needs an age key that can read it: give --identity FILE or "
            "set HZNCTL_AGE_KEY_FILE") in refused.output
    assert files_of(example_inventory) == before

    done = cli(*args, "--identity", str(DEMO_KEYS / "health-runner.agekey"))
    assert done.exit_code == 0, done.output
    assert "secrets/redis-main.yaml" in done.output
    clear_cache()
    batch = load_identities([DEMO_KEYS / "worker-batch-1.agekey"])
    assert decrypt_value(example_inventory / "secrets/redis-main.yaml", "password",
                         batch) == "demo-redis-main-password"
    assert cli("validate", str(example_inventory)).exit_code == 0


def test_missing_values_are_asked_for(cli, repo):
    inv = repo / "inventory"
    result = cli("new", "application", "mailer", "--connection", "redis-main", "-i", str(inv),
                 input="command\nproduction\n/srv/mailer\n")
    # The values came from stdin, one line each (no terminal: no prompt is shown);
    # validation then refuses the unknown connection.
    assert "Runtime" not in result.output and "Environment:" not in result.output
    assert result.exit_code == 1
    assert "connections[0].connection" in result.output and "redis-main" in result.output
    assert not (inv / "applications/mailer.yaml").exists()
    result = cli("new", "host", "worker-9", "-i", str(inv), input="production\n")
    assert result.exit_code == 0, result.output
    assert "environment: production" in (inv / "hosts/worker-9.yaml").read_text()


def test_a_new_host_that_gets_workers_gets_their_secrets(cli, example_inventory):
    # role=queue hosts run billing's workers (redis-main): the new host needs that password.
    key = make_age_key(example_inventory.parent / "eu3.agekey")
    args = ("new", "host", "worker-eu-3", "--environment", "production", "--label",
            "role=queue", "--age-recipient", key.recipient, "-i", str(example_inventory))
    refused = cli(*args, env={"HZNCTL_AGE_KEY_FILE": "", "SOPS_AGE_KEY_FILE": ""})
    assert refused.exit_code == 2
    assert "secrets/redis-main.yaml must be re-encrypted for host worker-eu-3" in refused.output
    assert not (example_inventory / "hosts/worker-eu-3.yaml").exists()
    done = cli(*args, env={"HZNCTL_AGE_KEY_FILE": str(DEMO_KEYS / "health-runner.agekey")})
    assert done.exit_code == 0, done.output
    clear_cache()
    assert decrypt_value(example_inventory / "secrets/redis-main.yaml", "password",
                         load_identities([key.path])) == "demo-redis-main-password"
    assert cli("validate", str(example_inventory)).exit_code == 0
