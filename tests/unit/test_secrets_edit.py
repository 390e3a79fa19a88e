"""Edits of inventory files keep comments and change exactly one value."""

from __future__ import annotations

import pytest

from hznctl.secrets.edit import add_health_recipient, set_secret_reference, set_top_level_scalar
from hznctl.secrets.errors import SecretError

R1 = "age1" + "q" * 58
R2 = "age1" + "p" * 58


def test_host_recipient_replaced_in_place(tmp_path):
    path = tmp_path / "h.yaml"
    path.write_text(f"# host\nname: h\nage_recipient: {R1}  # old key\nactive: true\n")
    assert set_top_level_scalar(path, "age_recipient", R2)
    assert path.read_text() == f"# host\nname: h\nage_recipient: {R2}  # old key\nactive: true\n"
    assert not set_top_level_scalar(path, "age_recipient", R2)


def test_host_recipient_appended(tmp_path):
    path = tmp_path / "h.yaml"
    path.write_text("name: h\nlabels:\n  role: queue")
    assert set_top_level_scalar(path, "age_recipient", R1)
    assert path.read_text() == f"name: h\nlabels:\n  role: queue\nage_recipient: {R1}\n"


@pytest.mark.parametrize("before,after", [
    (f"name: p\nhealth:\n  # runner keys\n  recipients:\n    - {R1}\n  deadline: 10\n",
     f"name: p\nhealth:\n  # runner keys\n  recipients:\n    - {R1}\n    - {R2}\n  deadline: 10\n"),
    (f"name: p\nhealth:\n  recipients: [{R1}]\n",
     f"name: p\nhealth:\n  recipients: [{R1}, {R2}]\n"),
    ("name: p\nhealth:\n  deadline: 10\n",
     f"name: p\nhealth:\n  recipients:\n    - {R2}\n  deadline: 10\n"),
    ("name: p\n", f"name: p\nhealth:\n  recipients:\n    - {R2}\n"),
    ("name: p\nhealth:\n  recipients: []\n", f"name: p\nhealth:\n  recipients: [{R2}]\n"),
])
def test_health_recipient_added(tmp_path, before, after):
    path = tmp_path / "project.yaml"
    path.write_text(before)
    assert add_health_recipient(path, R2)
    assert path.read_text() == after
    assert not add_health_recipient(path, R2)


def test_secret_reference_added_only_when_unset(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: c\nhost: h\n")
    assert set_secret_reference(path, "password", "secrets/c.yaml", "password")
    assert path.read_text() == "name: c\nhost: h\npassword:\n  sops: secrets/c.yaml\n" \
        "  key: password\n"
    assert not set_secret_reference(path, "password", "secrets/other.yaml", "password")
    path.write_text("name: c\npassword:\nhost: h\n")
    assert set_secret_reference(path, "password", "secrets/c.yaml", "password")
    assert path.read_text() == "name: c\npassword:\n  sops: secrets/c.yaml\n  key: password\n" \
        "host: h\n"


def test_an_edit_that_cannot_be_verified_writes_nothing(tmp_path):
    path = tmp_path / "project.yaml"
    before = "name: p\nhealth: none\n"
    path.write_text(before)
    with pytest.raises(SecretError, match=r"add .* under health.recipients yourself"):
        add_health_recipient(path, R2)
    assert path.read_text() == before
