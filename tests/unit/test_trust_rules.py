"""validate's trust rules (hznctl.rules.trust): one scope per secret file unless an admin
declares the sharing, host names that are no runner label, least privilege by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from hznctl.validate import validate_inventory

COPY = """\
name: redis-copy
host: redis-copy.internal
password: {sops: secrets/redis-main.yaml, key: password}
environment: staging
"""


def _errors(root: Path, code: str) -> list[str]:
    return [f"{Path(d.file).relative_to(root) if Path(d.file).is_absolute() else d.file}:"
            f"{d.line}: {d.message}" for d in validate_inventory(root).diagnostics
            if d.code == code]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_a_secret_of_two_environments_is_refused_at_every_reference(example_inventory):
    (example_inventory / "connections/redis-copy.yaml").write_text(COPY)
    found = _errors(example_inventory, "secret-scope")
    assert len(found) == 2
    assert all("secrets/redis-main.yaml is a secret of several environments (production: "
               "connection redis-main; staging: connection redis-copy)" in f for f in found)


def test_an_admin_may_declare_the_sharing(example_inventory):
    (example_inventory / "connections/redis-copy.yaml").write_text(COPY)
    with (example_inventory / "policy.yaml").open("a") as policy:
        policy.write("shared_secrets:\n  secrets/redis-main.yaml: [production]\n")
    assert len(_errors(example_inventory, "secret-scope")) == 2  # staging is not declared
    _edit(example_inventory / "policy.yaml", "secrets/redis-main.yaml: [production]",
          "secrets/redis-main.yaml: [production, staging]")
    assert _errors(example_inventory, "secret-scope") == []


@pytest.mark.parametrize("name", ["self-hosted", "linux", "x64", "arm64", "hznctl",
                                  "hznctl-health", "hznctl-host-worker-eu-1"])
def test_a_host_named_like_a_runner_label_is_refused(example_inventory, name):
    path = example_inventory / "hosts/worker-staging-1.yaml"
    _edit(path, "name: worker-staging-1", f"name: {name}")
    path.rename(path.with_name(f"{name}.yaml"))
    _edit(example_inventory / "applications/storefront.yaml", "hosts: [worker-staging-1]",
          f"hosts: [{name}]")
    assert [f.split(": ", 1)[1] for f in _errors(example_inventory, "runner-labels")] == [
        f"host name {name!r} is a runner label (GitHub's or hznctl's own): a deploy job "
        "selecting it could run on other runners"]


def test_least_privilege_by_default_and_what_privileges_allow(example_inventory):
    _edit(example_inventory / "project.yaml", "log_dir: /var/log/hznctl", "log_dir: /etc/cron.d")
    _edit(example_inventory / "applications/storefront.yaml",
          "directory: /srv/storefront/current", "directory: /etc\nuser: root")
    found = _errors(example_inventory, "least-privilege")
    assert "log_dir /etc/cron.d (from project.yaml's defaults) is outside the host's allowed " \
        "roots (/srv, /opt, /home, /var/www, /app, /var/log)" in found[-1]
    assert len(found) == 4 + 2  # every host's log_dir; storefront's user and directory
    with (example_inventory / "hosts/worker-staging-1.yaml").open("a") as host:
        host.write("privileges:\n  root: true\n  paths: [/etc]\n")
    left = _errors(example_inventory, "least-privilege")
    assert len(left) == 3 and all("worker-staging-1" not in f for f in left)
