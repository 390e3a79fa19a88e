"""`hznctl plan`: what a change restarts on each host, and why, field by field."""

from __future__ import annotations

import json
import subprocess

import yaml

from tests.compile_support import compile_to
from tests.support import sops_encrypt


def _edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _bundles(example_inventory, tmp_path, name):
    out = tmp_path / name
    compile_to(example_inventory, out)
    return out


def test_field_level_changes_and_restarted_processes(cli, example_inventory, tmp_path):
    old = _bundles(example_inventory, tmp_path, "old")
    apps = example_inventory / "applications"
    _edit(apps / "mailer.yaml", "max_processes: 3", "max_processes: 5")
    _edit(apps / "mailer.yaml", "queues: [mail, mail-bulk]", "queues: [mail, mail-bulk, low]")
    _edit(apps / "billing.yaml", "timeout: 75", "timeout: 80")
    new = _bundles(example_inventory, tmp_path, "new")
    result = cli("plan", str(old), str(new))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "worker-eu-1: 0 to add, 2 to change, 0 to remove, 0 unchanged" in lines
    assert ("  ~ mailer-mail: queues mail,mail-bulk → mail,mail-bulk,low, numprocs 3 → 5"
            in lines)
    assert "      restarts mailer-mail_00, mailer-mail_01, mailer-mail_02" in lines
    assert "      starts mailer-mail_03, mailer-mail_04" in lines
    assert "  ~ billing-horizon: payments.timeout 75 → 80, stopwaitsecs 105 → 110" in lines
    assert "worker-batch-1: 0 to add, 0 to change, 0 to remove, 2 unchanged" in lines
    assert cli("plan", str(old), str(new), "--detailed-exitcode").exit_code == 2
    assert cli("plan", str(old), str(old), "--detailed-exitcode").exit_code == 0


def test_json_and_markdown_formats(cli, example_inventory, tmp_path):
    old = _bundles(example_inventory, tmp_path, "old")
    _edit(example_inventory / "applications" / "reports.yaml", "max_processes: 2",
          "max_processes: 1")
    new = _bundles(example_inventory, tmp_path, "new")
    payload = json.loads(cli("plan", str(old), str(new), "--format", "json").output)
    assert payload["changes"] is True
    batch = next(h for h in payload["hosts"] if h["host"] == "worker-batch-1")
    assert batch["changed"] == ["reports-exports"]
    assert batch["restarts"] == ["reports-exports_00", "reports-exports_01"]
    change = batch["groups"]["reports-exports"]["changes"][0]
    assert (change["field"], change["old"], change["new"]) == ("numprocs", "2", "1")
    markdown = cli("plan", str(old), str(new), "--format", "markdown").output
    assert "| `worker-batch-1` | 0 | 1 | 0 | 1 | 2 |" in markdown
    assert "- **changed** `reports-exports`: `numprocs` `2` → `1` — restarts 2 process(es)" \
        in markdown


def test_a_rotated_password_restarts_exactly_the_workers_that_use_it(
        cli, example_inventory, tmp_path):
    old = _bundles(example_inventory, tmp_path, "old")
    secret = example_inventory / "secrets" / "redis-jobs.yaml"
    recipients = [r["recipient"] for r in yaml.safe_load(secret.read_text())["sops"]["age"]]
    sops_encrypt({"password": "rotated-jobs-password"}, recipients, secret)
    new = _bundles(example_inventory, tmp_path, "new")
    payload = json.loads(cli("plan", str(old), str(new), "--format", "json").output)
    changed = {h["host"]: h["changed"] for h in payload["hosts"]}
    assert changed == {"worker-batch-1": ["search-indexer-indexing"],
                       "worker-eu-1": [], "worker-eu-2": ["mailer-webhooks"],
                       "worker-staging-1": []}
    text = cli("plan", str(old), str(new)).output
    assert "  ~ mailer-webhooks: password rotated (secrets/redis-jobs.yaml)" in text
    assert "rotated-jobs-password" not in text


def test_hosts_and_groups_added_and_removed(cli, example_inventory, tmp_path):
    old = _bundles(example_inventory, tmp_path, "old")
    _edit(example_inventory / "hosts" / "worker-staging-1.yaml", "age_recipient:",
          "active: false\nage_recipient:")
    _edit(example_inventory / "applications" / "storefront.yaml", "workers:",
          "active: false\nworkers:")
    (example_inventory / "applications" / "reports.yaml").unlink()
    new = _bundles(example_inventory, tmp_path, "new")
    text = cli("plan", str(old), str(new)).output
    assert "worker-staging-1: 0 to add, 0 to change, 1 to remove, 0 unchanged" in text
    assert "  - storefront-default: stops storefront-default_00, storefront-default_01" \
        in text
    assert "  - reports-exports: stops reports-exports_00, reports-exports_01" in text
    back = cli("plan", str(new), str(old)).output
    assert "  + reports-exports: starts reports-exports_00, reports-exports_01" in back


def test_plan_against_a_git_revision(cli, example_inventory, tmp_path):
    repo = example_inventory.parent
    for args in (["init", "-q"], ["add", "inventory"],
                 ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    assert cli("plan", "--base", "HEAD", str(example_inventory), "--detailed-exitcode"
               ).exit_code == 0
    _edit(example_inventory / "applications" / "mailer.yaml", "max_processes: 2",
          "max_processes: 4")
    result = cli("plan", "--base", "HEAD", str(example_inventory), "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert "  ~ mailer-webhooks: numprocs 2 → 4" in result.output
    assert cli("plan", "--base", "no-such-rev", str(example_inventory)).exit_code == 2


def test_bad_input_is_a_clear_error(cli, example_inventory, tmp_path):
    old = _bundles(example_inventory, tmp_path, "old")
    (old / "worker-eu-1" / "manifest.json").write_text("{not json")
    result = cli("plan", str(old / "worker-eu-1"), str(old / "worker-eu-2"))
    assert result.exit_code == 1
    assert "worker-eu-1/manifest.json: not a valid manifest" in result.output
    assert cli("plan", str(old)).exit_code == 2
    assert cli("plan", str(tmp_path / "nope"), str(old)).exit_code == 1
