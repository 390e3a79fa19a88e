"""Every command that takes a path works from any working directory, with the path relative
or absolute: paths are made absolute once, where the command line is read, so that sops
(run in the inventory folder), git and the writers all see the same files.

Each case runs from three places: the repository's root with `inventory`, a sibling folder
with `../repo/inventory`, and anywhere with the absolute path; key files and outputs are
given the same way. The real sops encrypts and re-keys.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hznctl.secrets.decrypt import clear_cache, decrypt_value, load_identities
from tests.support import DEMO_KEYS, EXAMPLE_INVENTORY, make_age_key

pytestmark = pytest.mark.integration

PLACES = ["root", "sibling", "absolute"]


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE_INVENTORY, root / "inventory")
    (root / "keys").mkdir()
    shutil.copy(DEMO_KEYS / "health-runner.agekey", root / "keys" / "runner.agekey")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m",
                  "start"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    (tmp_path / "elsewhere").mkdir()
    return root


def _at(place: str, repo: Path, monkeypatch) -> callable:
    """chdir to where ``place`` runs from; returns how a repository path is written there."""
    if place == "root":
        monkeypatch.chdir(repo)
        return lambda rel: rel
    if place == "sibling":
        monkeypatch.chdir(repo.parent / "elsewhere")
        return lambda rel: f"../repo/{rel}"
    monkeypatch.chdir(repo.parent / "elsewhere")
    return lambda rel: str(repo / rel)


def _ok(result):
    assert result.exit_code == 0, result.output
    assert "hznctl: error" not in result.output, result.output
    return result.output


@pytest.mark.parametrize("place", PLACES)
def test_secrets_set_sync_rotate(cli, repo, monkeypatch, place):
    p = _at(place, repo, monkeypatch)
    inv, key = p("inventory"), p("keys/runner.agekey")
    secret = repo / "inventory" / "secrets" / "redis-main.yaml"
    _ok(cli("secrets", "set", "redis-main", inv, "--identity", key, input="new-pw\n"))
    clear_cache()
    runner = load_identities([repo / "keys" / "runner.agekey"])
    assert decrypt_value(secret, "password", runner) == "new-pw"
    # A new host placed by role=queue labels: sync re-keys the secrets for it.
    host_key = make_age_key(repo / "keys" / "eu3.agekey")
    (repo / "inventory" / "hosts" / "worker-eu-3.yaml").write_text(
        "name: worker-eu-3\nenvironment: production\nlabels: {role: queue}\n"
        f"age_recipient: {host_key.recipient}\n")
    out = _ok(cli("secrets", "sync", inv, "--identity", key))
    assert "secrets/redis-main.yaml: updated (1 recipient(s) added)" in out
    clear_cache()
    assert decrypt_value(secret, "password", load_identities([host_key.path])) == "new-pw"
    assert _ok(cli("secrets", "status", inv)).count("up to date") >= 1
    before = secret.read_bytes()
    out = _ok(cli("secrets", "rotate", "--connection", "redis-main", inv, "--identity", key))
    assert "secrets/redis-main.yaml: rotated" in out and secret.read_bytes() != before
    _ok(cli("secrets", "rotate", "--connection", "redis-main", "--password", inv, "--identity",
            key, input="newer-pw\n"))
    clear_cache()
    assert decrypt_value(secret, "password", runner) == "newer-pw"


@pytest.mark.parametrize("place", PLACES)
def test_keygen_new_and_validate(cli, repo, monkeypatch, place):
    p = _at(place, repo, monkeypatch)
    inv = p("inventory")
    _ok(cli("new", "host", "worker-9", "--environment", "production", "-i", inv))
    out = cli("secrets", "keygen", "--host", "worker-9", "--out", p("keys/w9.agekey"),
              "--write", inv)
    assert out.exit_code == 0, out.output
    assert (repo / "keys" / "w9.agekey").is_file()
    assert "age_recipient: age1" in (repo / "inventory" / "hosts" / "worker-9.yaml").read_text()
    _ok(cli("new", "worker", "billing", "nine", "--queue", "nine", "--host", "worker-9",
            "-i", inv, "--identity", p("keys/runner.agekey")))
    assert "valid:" in _ok(cli("validate", inv))


@pytest.mark.parametrize("place", PLACES)
def test_compile_plan_and_git_commands(cli, repo, monkeypatch, place):
    p = _at(place, repo, monkeypatch)
    inv = p("inventory")
    # A cluster's Secrets are encrypted from the inventory's: compile reads them with a key.
    key = ("--identity", p("keys/runner.agekey"))
    _ok(cli("compile", inv, "--out", p("build/old"), *key))
    assert (repo / "build" / "old" / "worker-eu-1" / "manifest.json").is_file()
    app = repo / "inventory" / "applications" / "billing.yaml"
    app.write_text(app.read_text().replace("tries: 5", "tries: 4", 1))
    _ok(cli("compile", inv, "--out", p("build/new"), *key))
    assert "~ billing" in _ok(cli("plan", p("build/old"), p("build/new")))
    assert "~ billing" in _ok(cli("plan", "--base", "HEAD", inv))
    # The change is found, at its line, wherever the command runs from (the author has no
    # role that allows it).
    checked = cli("policy", "check", "--base", "HEAD", inv, "--author", "t@example.com")
    assert checked.exit_code == 1
    assert "inventory/applications/billing.yaml:32:12: workers[payments].tries" in checked.output
    assert "start" in _ok(cli("log", inv))
    _ok(cli("schema", "--out", p("schemas-out")))
    assert (repo / "schemas-out").is_dir()
    cli("codeowners", inv, "--out", p("CODEOWNERS"))
    assert (repo / "CODEOWNERS").is_file()
