"""Secrets rules of `validate`: everything checked with no key at all."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from hznctl.rules.secrets import sensitive_name
from hznctl.validate import validate_inventory

CANARY = "s3cr3t-canary-value"


def _messages(root, code_prefix="secret"):
    result = validate_inventory(root)
    return [d for d in result.diagnostics if d.code.startswith(code_prefix)]


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_example_inventory_passes_every_secrets_rule(example_inventory):
    assert _messages(example_inventory) == []


@pytest.mark.parametrize("name,expected", [
    ("DB_PASSWORD", True), ("REDIS_PASS", True), ("API_TOKEN", True), ("AWS_SECRET", True),
    ("STRIPE_API_KEY", True), ("PASSWORD_FILE_UNUSED", True), ("QUEUE_TOKEN_TTL", False),
    ("APP_ENV", False), ("SECRET_ROTATION_DAYS", False), ("db-password", True),
])
def test_sensitive_names(name, expected):
    assert sensitive_name(name) is expected


def test_literal_secrets_are_errors_naming_the_place(example_inventory):
    app = example_inventory / "applications" / "billing.yaml"
    _edit(app, 'key_prefix: "billing_database_"',
          f'key_prefix: "billing_database_"\nenv:\n  DB_PASSWORD: {CANARY}\n'
          f'  SENTRY_DSN: "https://u:{CANARY}@sentry.example/1"\n  QUEUE_TOKEN_TTL: "60"')
    _edit(example_inventory / "connections" / "redis-main.yaml", "notes: |",
          "notes: |\n  fallback redis://:" + CANARY + "@10.0.0.9:6379/0 AGE-SECRET-KEY-1QQQ")
    found = _messages(example_inventory, "secret-literal")
    text = "\n".join(d.text() for d in found)
    assert CANARY not in text and "QQQ" not in text
    places = sorted((d.file.rsplit("/", 1)[-1], d.line, d.path) for d in found)
    assert ("billing.yaml", 16, "env.DB_PASSWORD") in places
    assert ("billing.yaml", 17, "env.SENTRY_DSN") in places
    assert any(p[0] == "redis-main.yaml" and p[2] == "notes" for p in places)
    assert not any("QUEUE_TOKEN_TTL" in d.path for d in found)
    assert "age private key" in text
    assert not validate_inventory(example_inventory).ok()


def test_literal_password_field_is_refused_once_by_the_model(example_inventory):
    path = example_inventory / "connections" / "redis-main.yaml"
    text = path.read_text()
    path.write_text(re.sub(r"password:\n  sops: .*\n  key: password\n",
                           f"password: {CANARY}\n", text))
    result = validate_inventory(example_inventory)
    rendered = "\n".join(d.text() for d in result.diagnostics)
    assert "literal secret is not allowed" in rendered and CANARY not in rendered
    assert not [d for d in result.diagnostics if d.code == "secret-literal"]


def test_missing_and_unencrypted_files(example_inventory):
    (example_inventory / "secrets" / "redis-main.yaml").unlink()
    (example_inventory / "secrets" / "redis-jobs.yaml").write_text(f"password: {CANARY}\n")
    found = {d.path: d for d in _messages(example_inventory, "secret-file")
             if d.file.endswith((".yaml",))}
    texts = "\n".join(d.text() for d in _messages(example_inventory))
    assert CANARY not in texts
    assert "secrets/redis-main.yaml: the file does not exist" in texts
    assert "hznctl secrets set redis-main" in texts
    assert "secrets/redis-jobs.yaml: the file is not SOPS-encrypted" in texts
    assert all(d.path == "password.sops" for d in found.values())


def test_plaintext_leaf_in_a_sops_file(example_inventory):
    path = example_inventory / "secrets" / "redis-main.yaml"
    text = path.read_text()
    path.write_text(text.replace("password: ENC[", f"extra: {CANARY}\npassword: ENC[", 1))
    texts = "\n".join(d.text() for d in _messages(example_inventory))
    assert "extra is not encrypted" in texts and CANARY not in texts


def test_missing_key_points_at_the_key_field(example_inventory):
    _edit(example_inventory / "connections" / "redis-main.yaml", "key: password", "key: pasword")
    found = _messages(example_inventory, "secret-key")
    assert len(found) == 1
    assert found[0].path == "password.key" and found[0].line == 10
    assert "has no key 'pasword' (keys: password)" in found[0].message


def test_new_host_without_its_recipient_in_the_file(example_inventory):
    src = example_inventory / "hosts" / "worker-eu-2.yaml"
    text = src.read_text().replace("worker-eu-2", "worker-eu-9")
    text = re.sub(r"age_recipient: \S+",
                  "age_recipient: age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq",
                  text)
    (example_inventory / "hosts" / "worker-eu-9.yaml").write_text(text)
    found = [d for d in _messages(example_inventory) if d.code == "secret-recipient"]
    messages = sorted(d.message for d in found)
    assert "host worker-eu-9 cannot decrypt secrets/redis-main.yaml: its recipient is missing" \
        in messages
    assert all(d.hint == "run `hznctl secrets sync`" for d in found)
    assert all(d.file.endswith(".yaml") and d.path == "password.sops" for d in found)


def test_host_without_any_recipient(example_inventory):
    path = example_inventory / "hosts" / "worker-eu-1.yaml"
    path.write_text(re.sub(r"age_recipient: \S+\n", "", path.read_text()))
    found = [d for d in _messages(example_inventory) if "no age_recipient" in d.message]
    assert len(found) == 1
    assert found[0].file.endswith("worker-eu-1.yaml")
    assert "secrets keygen --host worker-eu-1" in found[0].hint


def test_extra_recipient_is_a_warning(example_inventory):
    _edit(example_inventory / "hosts" / "worker-eu-2.yaml", "environment: production",
          "environment: production\nactive: false")
    result = validate_inventory(example_inventory)
    extra = [d for d in result.diagnostics if d.code == "secret-extra-recipient"]
    assert extra and all(not d.is_error for d in extra)
    assert any("host worker-eu-2" in d.message for d in extra)
    assert result.ok() and not result.ok(strict=True)


def test_health_runner_recipient_missing(example_inventory):
    from tests.support import make_age_key

    key = make_age_key(example_inventory.parent / "runner2.agekey")
    _edit(example_inventory / "project.yaml", "  recipients:\n",
          f"  recipients:\n    - {key.recipient}\n")
    found = [d for d in _messages(example_inventory) if d.code == "secret-recipient"]
    files = sorted(p.name for p in (example_inventory / "secrets").glob("*.yaml"))
    assert "redis-main.yaml" in files
    assert {d.message.split(":")[0] for d in found} == {
        f"the health runner cannot decrypt secrets/{name}" for name in files}


def test_stray_plaintext_file_under_secrets(example_inventory):
    (example_inventory / "secrets" / "old.yaml").write_text(f"token: {CANARY}\n")
    (example_inventory / "secrets" / "notes.txt").write_text("ignored\n")
    found = [d for d in _messages(example_inventory) if d.file.endswith("old.yaml")]
    assert len(found) == 1 and found[0].is_error


def test_validate_json_output_never_holds_a_value(cli, example_inventory):
    shutil.copy(example_inventory / "secrets" / "redis-main.yaml",
                example_inventory / "secrets" / "copy.yaml")
    _edit(example_inventory / "applications" / "billing.yaml",
          'key_prefix: "billing_database_"', f'key_prefix: "billing_database_"\nenv:\n'
          f'  API_TOKEN: {CANARY}')
    result = cli("validate", str(example_inventory), "--format", "json")
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert CANARY not in result.output and payload
