"""In-process SOPS decryption against files made by the real sops binary with real age keys."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from hznctl.secrets import decrypt
from hznctl.secrets.decrypt import (
    SecretError,
    clear_cache,
    decrypt_file,
    decrypt_value,
    default_identity_paths,
    load_identities,
)
from hznctl.secrets.sops import sops_binary
from tests.support import DEMO_KEYS, EXAMPLE_INVENTORY, make_age_key, sops_encrypt

pytestmark = pytest.mark.integration

CANARY = "canary-Zq8!pass word:#%;\"'é"


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def keys(tmp_path):
    return make_age_key(tmp_path / "a.agekey"), make_age_key(tmp_path / "b.agekey")


def sops_encrypt_text(text: str, out: Path, recipients: list[str], *flags: str,
                      config: Path | None = None) -> Path:
    plain = out.with_name("plain-" + out.name)
    plain.write_text(text)
    args = [sops_binary(), "--disable-version-check"]
    if config is not None:
        args += ["--config", str(config)]
    args += ["encrypt", *flags]
    if config is None:
        args += ["--age", ",".join(recipients)]
    args += ["--filename-override", out.name, str(plain)]
    result = subprocess.run(args, capture_output=True, check=True, cwd=out.parent,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(out.parent)})
    plain.unlink()
    out.write_bytes(result.stdout)
    return out


def binary_decrypt(path: Path, key_file: Path) -> dict:
    result = subprocess.run(
        [sops_binary(), "--disable-version-check", "decrypt", "--output-type", "json",
         str(path)], capture_output=True, check=True,
        env={"PATH": "/usr/bin:/bin", "SOPS_AGE_KEY_FILE": str(key_file)})
    return json.loads(result.stdout)


def in_process(path: Path, identities) -> dict[str, str]:
    """Decrypt without any fallback to the binary (fails if the file needs it)."""
    return dict(decrypt._decrypt_in_process(path, identities).values)


def test_example_secrets_decrypt_with_each_needed_key():
    runner = load_identities([DEMO_KEYS / "health-runner.agekey"])
    for path in sorted((EXAMPLE_INVENTORY / "secrets").glob("redis-*.yaml")):
        name = path.stem
        assert in_process(path, runner) == {"password": f"demo-{name}-password"}


def test_interop_flat_file_matches_the_binary(tmp_path, keys):
    plain = {"password": CANARY, "other": "x" * 300, "empty": "", "unicode": "пароль🔑"}
    path = sops_encrypt(plain, [keys[0].recipient, keys[1].recipient], tmp_path / "s.yaml")
    for key in keys:
        identities = load_identities([key.path])
        assert in_process(path, identities) == plain
        assert in_process(path, identities) == binary_decrypt(path, key.path)
    assert decrypt_value(path, "password", load_identities([keys[1].path])) == CANARY


def test_interop_typed_and_nested_values(tmp_path, keys):
    text = (
        "password: hunter2\n"
        "port: 6379\n"
        "ratio: 1.5\n"
        "big: 1.0e+20\n"
        "tls: true\n"
        "nested:\n  inner: value\n  list: [a, 2, {deep: x}]\n"
        "list: [one, two]\n"
    )
    path = sops_encrypt_text(text, tmp_path / "t.yaml", [keys[0].recipient])
    identities = load_identities([keys[0].path])
    got = in_process(path, identities)
    expected = binary_decrypt(path, keys[0].path)
    assert got == {"password": "hunter2", "port": "6379", "ratio": "1.5",
                   "big": "100000000000000000000", "tls": "true"}
    assert expected["port"] == 6379 and expected["nested"]["list"][2] == {"deep": "x"}
    with pytest.raises(SecretError, match="holds a mapping or list"):
        decrypt_value(path, "nested", identities)
    with pytest.raises(SecretError, match="has no key 'missing'"):
        decrypt_value(path, "missing", identities)


def test_json_files(tmp_path, keys):
    path = sops_encrypt_text(json.dumps({"password": CANARY, "a": {"b": "c"}}),
                             tmp_path / "s.json", [keys[0].recipient])
    assert in_process(path, load_identities([keys[0].path])) == {"password": CANARY}


def test_encrypted_regex_and_unencrypted_suffix(tmp_path, keys):
    ids = load_identities([keys[0].path])
    path = sops_encrypt_text("password: p1\nhost: redis.internal\n", tmp_path / "r.yaml",
                             [keys[0].recipient], "--encrypted-regex", "^pass")
    assert "host: redis.internal" in path.read_text()
    assert in_process(path, ids) == {"password": "p1", "host": "redis.internal"}
    path = sops_encrypt_text("password: p2\nnote_unencrypted: hello\n", tmp_path / "u.yaml",
                             [keys[0].recipient])
    assert in_process(path, ids) == {"password": "p2", "note_unencrypted": "hello"}


def test_mac_only_encrypted(tmp_path, keys):
    config = tmp_path / ".sops.yaml"
    config.write_text(
        "creation_rules:\n"
        f"  - age: {keys[0].recipient}\n"
        "    mac_only_encrypted: true\n"
    )
    path = sops_encrypt_text("password: p3\nhost_unencrypted: h\n", tmp_path / "m.yaml", [],
                             config=config)
    assert "mac_only_encrypted: true" in path.read_text()
    ids = load_identities([keys[0].path])
    assert in_process(path, ids) == {"password": "p3", "host_unencrypted": "h"}
    # Under mac_only_encrypted a clear value may change without breaking the MAC (sops agrees).
    path.write_text(path.read_text().replace("host_unencrypted: h", "host_unencrypted: j"))
    assert in_process(path, ids)["host_unencrypted"] == "j"


def test_typed_clear_values_fall_back_to_the_binary(tmp_path, keys):
    path = sops_encrypt_text("password: p4\nport_unencrypted: 6379\n", tmp_path / "f.yaml",
                             [keys[0].recipient])
    ids = load_identities([keys[0].path])
    with pytest.raises(decrypt.NeedsSopsBinary):
        decrypt._decrypt_in_process(path, ids)
    assert decrypt_file(path, ids) == {"password": "p4", "port_unencrypted": "6379"}


@pytest.fixture
def secret_file(tmp_path, keys):
    plain = {"password": CANARY, "username": "queues", "zeta": "last"}
    return sops_encrypt(plain, [keys[0].recipient], tmp_path / "secret.yaml")


def _rejects(path: Path, key_file: Path, pattern: str) -> str:
    with pytest.raises(SecretError, match=pattern) as caught:
        decrypt_file(path, load_identities([key_file]))
    message = str(caught.value)
    assert CANARY not in message and "queues" not in message.replace("'username'", "")
    # The binary agrees that the file is bad.
    result = subprocess.run(
        [sops_binary(), "--disable-version-check", "decrypt", str(path)],
        capture_output=True, env={"PATH": "/usr/bin:/bin", "SOPS_AGE_KEY_FILE": str(key_file)})
    assert result.returncode != 0
    return message


def test_tampered_value_is_rejected(secret_file, keys):
    text = secret_file.read_text()
    data = re.search(r"password: ENC\[AES256_GCM,data:([^,]+)", text).group(1)
    flipped = ("B" if data[0] == "A" else "A") + data[1:]
    secret_file.write_text(text.replace(data, flipped, 1))
    _rejects(secret_file, keys[0].path, "password does not authenticate")


def test_renamed_key_is_rejected(secret_file, keys):
    secret_file.write_text(secret_file.read_text().replace("password:", "passw0rd:", 1))
    _rejects(secret_file, keys[0].path, "passw0rd does not authenticate")


def test_swapped_values_are_rejected(secret_file, keys):
    lines = secret_file.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("password:"))
    second = next(i for i, line in enumerate(lines) if line.startswith("zeta:"))
    a, b = lines[first].split(": ", 1)[1], lines[second].split(": ", 1)[1]
    lines[first], lines[second] = f"password: {b}", f"zeta: {a}"
    secret_file.write_text("\n".join(lines) + "\n")
    _rejects(secret_file, keys[0].path, "does not authenticate")


def test_reordered_or_removed_keys_break_the_mac(secret_file, keys):
    lines = secret_file.read_text().splitlines()
    data = [line for line in lines if not line.startswith((" ", "sops:"))]
    rest = lines[len(data):]
    secret_file.write_text("\n".join([data[1], data[0], data[2], *rest]) + "\n")
    _rejects(secret_file, keys[0].path, "MAC mismatch")
    clear_cache()
    secret_file.write_text("\n".join([data[0], data[2], *rest]) + "\n")
    _rejects(secret_file, keys[0].path, "MAC mismatch")


def test_changed_mac_is_rejected(secret_file, keys):
    text = secret_file.read_text()
    mac = re.search(r"mac: ENC\[AES256_GCM,data:([^,]+)", text).group(1)
    secret_file.write_text(text.replace(mac, mac[::-1], 1))
    _rejects(secret_file, keys[0].path, "MAC mismatch")


def test_changed_lastmodified_is_rejected(secret_file, keys):
    text = secret_file.read_text()
    stamp = re.search(r'lastmodified: "([^"]+)"', text).group(1)
    secret_file.write_text(text.replace(stamp, "2001-01-01T00:00:00Z"))
    _rejects(secret_file, keys[0].path, "MAC mismatch")


def test_wrong_key_is_rejected(secret_file, keys):
    message = _rejects(secret_file, keys[1].path, "is among its recipients")
    assert keys[1].recipient in message and keys[0].recipient in message


def test_not_a_sops_file(tmp_path, keys):
    plain = tmp_path / "plain.yaml"
    plain.write_text(f"password: {CANARY}\n")
    with pytest.raises(SecretError, match="not SOPS-encrypted") as caught:
        decrypt_file(plain, load_identities([keys[0].path]))
    assert CANARY not in str(caught.value)
    with pytest.raises(SecretError, match="does not exist"):
        decrypt_file(tmp_path / "nope.yaml", load_identities([keys[0].path]))


def test_cache_decrypts_a_shared_file_once(secret_file, keys, monkeypatch):
    ids = load_identities([keys[0].path])
    calls = []
    real = decrypt._decrypt_in_process
    monkeypatch.setattr(decrypt, "_decrypt_in_process",
                        lambda p, i: calls.append(p) or real(p, i))
    for _ in range(5):
        assert decrypt_value(secret_file, "password", ids) == CANARY
    assert len(calls) == 1
    sops_encrypt({"password": "rotated-value"}, [keys[0].recipient], secret_file)
    assert decrypt_value(secret_file, "password", ids) == "rotated-value"
    assert len(calls) == 2


def test_identities(tmp_path, keys, monkeypatch):
    both = load_identities([keys[0].path, keys[1].path, keys[0].path])
    assert both.recipients == (keys[0].recipient, keys[1].recipient)
    assert keys[0].identity not in repr(both)
    bad = tmp_path / "bad.agekey"
    bad.write_text("# comment\nAGE-SECRET-KEY-1NOTAKEY\n")
    with pytest.raises(SecretError, match=r"bad.agekey:2: not a valid age identity") as caught:
        load_identities([bad])
    assert "NOTAKEY" not in str(caught.value)
    with pytest.raises(SecretError, match="does not exist"):
        load_identities([tmp_path / "none.agekey"])
    with pytest.raises(SecretError, match="no age identity file"):
        load_identities([])
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(keys[1].path))
    monkeypatch.setenv("HZNCTL_AGE_KEY_FILE", str(keys[0].path))
    assert default_identity_paths() == [keys[0].path, keys[1].path]
    monkeypatch.delenv("SOPS_AGE_KEY_FILE")
    monkeypatch.delenv("HZNCTL_AGE_KEY_FILE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert default_identity_paths() == []
    (tmp_path / "cfg/sops/age").mkdir(parents=True)
    (tmp_path / "cfg/sops/age/keys.txt").write_text(keys[1].path.read_text())
    assert default_identity_paths() == [tmp_path / "cfg/sops/age/keys.txt"]


def test_fast_metadata_scan_reads_what_the_yaml_parser_reads(tmp_path):
    from hznctl.secrets.sopsyaml import load_sops_yaml
    from hznctl.yamlio import parse_document

    recipients = [make_age_key(tmp_path / f"k{i}.agekey").recipient for i in range(12)]
    path = sops_encrypt({"password": CANARY, "b": "x"}, recipients, tmp_path / "many.yaml")
    text = path.read_text()
    variants = {
        "sops": text,
        "comment": "# header\n" + text.replace("sops:\n", "# meta\nsops:\n"),
        "sops-first": "sops:" + text.split("sops:", 1)[1] + text.split("sops:", 1)[0],
        "blank-in-block": text.replace("-----END AGE", "\n            -----END AGE", 1),
        "two-space-indent": text.replace("\n    ", "\n  "),
        "quoted": text.replace("version: 3.11.0", "version: '3.11.0'"),
        "pgp": text.replace("    lastmodified:", "    pgp:\n        - fp: ABC\n"
                            "    lastmodified:"),
    }
    for name, variant in variants.items():
        data = variant.encode()
        assert load_sops_yaml(data, path) == parse_document(data, path, "x").data, name
    assert len(load_sops_yaml(text.encode(), path)["sops"]["age"]) == 12
