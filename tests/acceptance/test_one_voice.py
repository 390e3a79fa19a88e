"""One voice: each kind of failure gets one message and one exit code, whichever command
meets it; no message quotes a credential; a mistyped command gets a suggestion."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support import DEMO_KEYS, EXAMPLE_INVENTORY

NO_INVENTORY = ("hznctl: error: inventory folder 'nope' does not exist (run hznctl from the "
                "folder that holds it, or give its path)\n")


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """The example inventory in a git repository with one commit; the working directory."""
    shutil.copytree(EXAMPLE_INVENTORY, tmp_path / "inventory")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m",
                  "start"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("args", [
    ["validate"], ["compile", "--out", "out"], ["plan", "--base", "HEAD"],
    ["secrets", "status"], ["secrets", "sync"], ["secrets", "set", "redis-main"],
    ["secrets", "rotate", "--all"], ["secrets", "keygen", "--runner", "--out", "k", "--write"],
    ["codeowners"], ["policy", "check", "--base", "HEAD"], ["log"], ["health"],
], ids=" ".join)
def test_a_missing_inventory_is_one_usage_error(cli, repo, args):
    result = cli(*args, "nope", input="pw\n")
    assert (result.exit_code, result.output) == (2, NO_INVENTORY)


@pytest.mark.parametrize("args", [
    ["host", "x", "--environment", "production"],
    ["connection", "x", "--host", "h", "--environment", "production"],
    ["application", "x", "--runtime", "rq", "--environment", "production", "--directory",
     "/srv/x", "--connection", "redis-main"],
    ["worker", "billing", "x", "--queue", "q"],
], ids=lambda a: a[0])
def test_a_missing_inventory_for_new_is_the_same_error(cli, repo, args):
    result = cli("new", *args, "-i", "nope", input="pw\n")
    assert (result.exit_code, result.output) == (2, NO_INVENTORY)


@pytest.mark.parametrize("args", [
    ["plan", "--base", "no-such-rev", "inventory"],
    ["policy", "check", "--base", "no-such-rev", "inventory"],
    ["log", "--since", "no-such-rev", "inventory"],
], ids=" ".join)
def test_an_unknown_revision_is_one_usage_error(cli, repo, args):
    result = cli(*args)
    assert result.exit_code == 2
    assert result.output == (
        "hznctl: error: unknown git revision 'no-such-rev': give a commit, branch or tag that "
        "exists here (`git fetch` first for a remote branch)\n")


NO_KEY = {"HZNCTL_AGE_KEY_FILE": "", "SOPS_AGE_KEY_FILE": "", "SOPS_AGE_KEY": "",
          "XDG_CONFIG_HOME": "/nonexistent"}


@pytest.mark.parametrize("args", [
    ["new", "worker", "billing", "batch", "--queue", "batch", "--host", "worker-batch-1"],
    ["secrets", "rotate", "--connection", "redis-main", "inventory"],
], ids=" ".join)
def test_a_missing_key_is_one_usage_error(cli, repo, args):
    before = {p: p.read_bytes() for p in (repo / "inventory").rglob("*") if p.is_file()}
    result = cli(*args, env=NO_KEY)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("hznctl: error: secrets/redis-main.yaml must be "
                                    "re-encrypted")
    assert ("which needs an age key that can read it: give --identity FILE or set "
            "HZNCTL_AGE_KEY_FILE (the health runner's key can read every secret); nothing "
            "was changed\n") in result.output
    assert {p: p.read_bytes() for p in (repo / "inventory").rglob("*") if p.is_file()} == before


def test_a_missing_key_file_is_one_usage_error_however_it_is_named(cli, repo):
    expected = ("hznctl: error: age key file '/no/key' does not exist (from --identity, "
                "HZNCTL_AGE_KEY_FILE or SOPS_AGE_KEY_FILE)\n")
    worker = ["new", "worker", "billing", "batch", "--queue", "batch", "--host",
              "worker-batch-1"]
    for args, env in (([*worker, "--identity", "/no/key"], NO_KEY),
                      (worker, {**NO_KEY, "HZNCTL_AGE_KEY_FILE": "/no/key"}),
                      (["secrets", "sync", "--identity", "/no/key"], NO_KEY),
                      (["secrets", "rotate", "--all"], {**NO_KEY, "HZNCTL_AGE_KEY_FILE":
                                                        "/no/key"})):
        result = cli(*args, env=env)
        assert (result.exit_code, result.output) == (2, expected), args


def test_a_wrong_key_says_so_in_one_line(cli, repo):
    result = cli("secrets", "rotate", "--connection", "redis-main", "--identity",
                 str(DEMO_KEYS / "worker-batch-1.agekey"))
    assert result.exit_code == 1
    assert result.output == (
        "hznctl: error: cannot rotate the data key of secrets/redis-main.yaml: sops failed: "
        "none of the age keys given can read it (none is among its recipients): use a key "
        "that can, such as the health runner's\n")


@pytest.mark.parametrize(("args", "option"), [
    (["new", "host", "w2"], "--environment"),
    (["new", "connection", "c2"], "--host"),
    (["new", "application", "a2", "--connection", "redis-main"], "--runtime"),
], ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_a_prompt_without_a_terminal_is_a_usage_error_naming_the_option(cli, repo, args,
                                                                          option):
    result = cli(*args, input="")
    assert result.exit_code == 2, result.output
    assert result.output == (
        f"hznctl: error: missing option {option}: there is no terminal to ask for it on, so "
        "give it on the command line\n")


@pytest.mark.parametrize("output_format", ["text", "json", "github"])
def test_validate_never_echoes_a_credential(cli, repo, output_format):
    path = repo / "inventory" / "connections" / "redis-main.yaml"
    text = path.read_text()
    host = next(line for line in text.splitlines() if line.startswith("host:"))
    path.write_text(text.replace(host, "host: redis://:hunter2@redis.internal:6379"))
    result = cli("validate", "--format", output_format)
    assert result.exit_code == 1
    assert "hunter2" not in result.output
    assert "looks like a credential" in result.output or output_format == "json"


@pytest.mark.parametrize(("typed", "meant"), [
    (["valdate"], "validate"), (["secrets", "stauts"], "status"), (["new", "hots"], "host"),
    (["policy", "chek"], "check"),
])
def test_a_mistyped_command_gets_did_you_mean(cli, typed, meant):
    result = cli(*typed)
    assert result.exit_code == 2
    assert f"Error: No such command {typed[-1]!r}. Did you mean {meant!r}?" in result.output


def test_a_warning_says_warning_once(cli, repo):
    result = cli("new", "host", "idle-1", "--environment", "production")
    assert result.exit_code == 0
    assert result.output.count("warning:") == 1, result.output
    assert "hosts/idle-1.yaml:1:7: warning: name: host 'idle-1' runs no worker group" in (
        result.output)


@pytest.mark.parametrize(("kind", "typo", "meant"), [
    ("connections/redis-main.yaml", "hostname", "host"),
    ("connections/redis-main.yaml", "port_number", "port"),
    ("hosts/worker-eu-1.yaml", "hostname", "name"),
    ("connections/redis-main.yaml", "databse", "database"),
])
def test_an_unknown_field_suggests_the_field_meant(cli, repo, kind, typo, meant):
    path = repo / "inventory" / kind
    path.write_text(path.read_text() + f"{typo}: x\n")
    result = cli("validate")
    assert f"unknown field {typo!r} (did you mean {meant!r}?)" in result.output


def test_metrics_have_no_float_noise():
    from hznctl.health.reports import _value

    assert _value(0.0023020000000000002) == "0.002302"
    assert _value(2.302 / 1000) == "0.002302"
    assert _value(3.0) == "3" and _value(1.5) == "1.5" and _value(1e-7) == "1e-07"
