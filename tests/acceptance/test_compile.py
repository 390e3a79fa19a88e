"""`hznctl compile` through the CLI on the example inventory and edits of it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.compile_support import read_program, stats, tree, without_secrets

# An inventory's own rq template written out in full, as templates were before they
# shared a base: such overrides keep working.
OWN_RQ = (Path(__file__).parent / "own_templates" / "rq.conf.j2").read_text()


def _compile(cli, inventory, out, *extra):
    result = cli("compile", str(inventory), "--out", str(out), *extra)
    return result


def test_compile_writes_one_bundle_per_active_host(cli, example_inventory, tmp_path):
    out = tmp_path / "bundles"
    result = _compile(cli, example_inventory, out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "cluster-eu", "worker-batch-1", "worker-eu-1", "worker-eu-2", "worker-staging-1"]
    for host_dir in out.iterdir():
        manifest = json.loads((host_dir / "manifest.json").read_text())
        if manifest.get("target") == "kubernetes":
            continue  # a cluster's tree: tests/acceptance/test_kubernetes_cli.py
        assert manifest["host"] == host_dir.name
        programs = sorted(p.stem for p in (host_dir / "programs").iterdir())
        assert programs == sorted(manifest["groups"])
        files = tree(host_dir)
        del files["manifest.json"]
        assert sorted(manifest["files"]) == sorted(files)
        for group, entry in manifest["groups"].items():
            sections, _ = read_program(host_dir / entry["file"])
            assert sections == [f"program:{group}"]
            assert entry["process_names"] == [f"{group}_{n:02d}"
                                              for n in range(entry["processes"])]
            for dep in entry["files"]:
                assert dep in manifest["files"]


def test_bundle_carries_only_the_secrets_its_workers_use_byte_for_byte(
        cli, example_inventory, tmp_path):
    out = tmp_path / "bundles"
    assert _compile(cli, example_inventory, out).exit_code == 0
    staging = out / "worker-staging-1" / "secrets"
    assert sorted(p.name for p in staging.iterdir()) == ["redis-staging.yaml"]
    assert (staging / "redis-staging.yaml").read_bytes() == (
        example_inventory / "secrets" / "redis-staging.yaml").read_bytes()
    spec = json.loads((out / "worker-staging-1/exec/storefront-default.json").read_text())
    assert spec["secrets"]["REDIS_PASSWORD"]["file"] == \
        "/var/lib/hznctl/current/secrets/redis-staging.yaml"
    assert "demo-redis-staging-password" not in json.dumps(spec)


def test_compile_is_deterministic_and_an_unchanged_recompile_touches_nothing(
        cli, example_inventory, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert _compile(cli, example_inventory, first).exit_code == 0
    assert _compile(cli, example_inventory, second).exit_code == 0
    # sops encrypts a cluster's Secrets anew in a fresh folder; everything else is the same
    assert without_secrets(tree(first)) == without_secrets(tree(second))
    before = stats(first)
    result = _compile(cli, example_inventory, first)
    assert result.exit_code == 0 and "unchanged" in result.output
    assert stats(first) == before


def test_a_change_rewrites_only_what_changed(cli, example_inventory, tmp_path):
    out = tmp_path / "bundles"
    assert _compile(cli, example_inventory, out).exit_code == 0
    before = stats(out, files_only=True)
    app = example_inventory / "applications" / "mailer.yaml"
    app.write_text(app.read_text().replace("max_processes: 3", "max_processes: 5"))
    assert _compile(cli, example_inventory, out).exit_code == 0
    after = stats(out, files_only=True)
    changed = {p for p in before if before[p] != after.get(p)}
    assert changed == {"worker-eu-1/manifest.json", "worker-eu-1/programs/mailer-mail.conf"}
    assert before["worker-eu-1/programs/mailer-mail.conf"] != \
        after["worker-eu-1/programs/mailer-mail.conf"]
    assert "numprocs=5" in (out / "worker-eu-1/programs/mailer-mail.conf").read_text()


def test_stale_hosts_and_programs_disappear(cli, example_inventory, tmp_path):
    out = tmp_path / "bundles"
    assert _compile(cli, example_inventory, out).exit_code == 0
    (example_inventory / "applications" / "reports.yaml").unlink()
    host = example_inventory / "hosts" / "worker-staging-1.yaml"
    host.write_text(host.read_text() + "active: false\n")
    storefront = example_inventory / "applications" / "storefront.yaml"
    storefront.write_text(storefront.read_text() + "active: false\n")
    result = _compile(cli, example_inventory, out)
    assert result.exit_code == 0, result.output
    assert not (out / "worker-staging-1").exists()
    assert not (out / "worker-batch-1" / "programs" / "reports-exports.conf").exists()
    assert not (out / "worker-batch-1" / "secrets" / "redis-reports.yaml").exists()
    assert "removed" in result.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bundles")]


def test_invalid_inventory_writes_nothing(cli, example_inventory, tmp_path):
    out = tmp_path / "bundles"
    assert _compile(cli, example_inventory, out).exit_code == 0
    before = stats(out)
    app = example_inventory / "applications" / "mailer.yaml"
    app.write_text(app.read_text().replace("max_processes: 3", "max_processes: many"))
    result = _compile(cli, example_inventory, out)
    assert result.exit_code == 1
    assert "mailer.yaml:" in result.output and "workers[0].max_processes" in result.output
    assert "nothing compiled" in result.output
    assert stats(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundles", "inventory"]


def test_only_selected_hosts_are_compiled_and_others_kept(cli, example_inventory, tmp_path):
    out = tmp_path / "bundles"
    assert _compile(cli, example_inventory, out).exit_code == 0
    shutil.rmtree(out / "worker-eu-1")
    before = stats(out / "worker-eu-2", files_only=True)
    result = _compile(cli, example_inventory, out, "--host", "worker-eu-1")
    assert result.exit_code == 0, result.output
    assert (out / "worker-eu-1" / "manifest.json").exists()
    assert stats(out / "worker-eu-2", files_only=True) == before
    result = _compile(cli, example_inventory, out, "--host", "worker-nope")
    assert result.exit_code == 2 and "no active host named worker-nope" in result.output


def test_refuses_a_folder_that_holds_other_files(cli, example_inventory, tmp_path):
    out = tmp_path / "somewhere"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = _compile(cli, example_inventory, out)
    assert result.exit_code == 1 and "not hznctl bundles" in result.output
    assert (out / "notes.txt").read_text() == "mine"


def test_program_settings_are_what_a_graceful_restart_needs(cli, example_inventory, tmp_path):
    out = tmp_path / "bundles"
    assert _compile(cli, example_inventory, out).exit_code == 0
    manifest = json.loads((out / "worker-eu-1" / "manifest.json").read_text())
    mail = manifest["groups"]["mailer-mail"]["settings"]
    assert mail["stopwaitsecs"] == "120"  # timeout 90 + stop_margin 30
    assert mail["numprocs"] == "3"
    # queue:work handles TERM itself after the current job; TERM to its process group
    # would also reach what the job started. KILL after stopwaitsecs takes the group.
    for key, value in {"stopasgroup": "false", "killasgroup": "true", "autostart": "true",
                       "autorestart": "true", "stopsignal": "TERM", "user": "www-data",
                       "directory": "/srv/mailer/current"}.items():
        assert mail[key] == value
    assert "php artisan queue:work redis --queue=mail,mail-bulk --tries=3 --timeout=90" \
        in mail["command"]
    horizon = manifest["groups"]["billing-horizon"]
    assert horizon["worker"] is None and horizon["processes"] == 1
    assert horizon["stopwaitsecs"] == 105  # payments: timeout 75 + 30
    supervisors = json.loads((out / "worker-eu-1/horizon/billing.json").read_text())
    assert supervisors["supervisors"]["billing-default"]["balance"] == "auto"
    assert supervisors["supervisors"]["billing-payments"]["queue"] == \
        ["payments-high", "payments"]
    mail_env = json.loads((out / "worker-eu-1/exec/mailer-mail.json").read_text())["env"]
    assert mail_env["REDIS_QUEUE_RETRY_AFTER"] == "180"  # the application's retry_after
    batch = json.loads((out / "worker-batch-1" / "manifest.json").read_text())
    celery = batch["groups"]["search-indexer-indexing"]["settings"]
    assert "--autoscale=6,2" in celery["command"]
    assert "--soft-time-limit=270 --time-limit=300" in celery["command"]
    assert (celery["stopasgroup"], celery["killasgroup"]) == ("false", "true")
    rq = batch["groups"]["reports-exports"]
    assert (rq["settings"]["stopasgroup"], rq["settings"]["killasgroup"]) == ("false", "true")
    assert "--worker-class hznctl_rq.Worker" in rq["settings"]["command"]
    assert "support/hznctl_rq.py" in rq["files"]


def test_inventory_templates_override_a_runtime(cli, example_inventory, tmp_path):
    templates = example_inventory / "templates"
    templates.mkdir()
    own = OWN_RQ.replace("; Generated by hznctl", "; ACME rq template; generated by hznctl")
    (templates / "rq.conf.j2").write_text(own)
    out = tmp_path / "bundles"
    assert _compile(cli, example_inventory, out).exit_code == 0
    assert "ACME rq template" in (out / "worker-batch-1/programs/reports-exports.conf"
                                  ).read_text()
    (templates / "rq.conf.j2").write_text(own + "[program:extra]\ncommand=/bin/sh\n")
    result = _compile(cli, example_inventory, out)
    assert result.exit_code == 1 and "reports-exports" in result.output
    assert "[program:extra]" not in (out / "worker-batch-1/programs/reports-exports.conf"
                                     ).read_text()


def test_a_full_inventory_template_writes_what_the_shipped_one_does(
        cli, example_inventory, tmp_path):
    """The shipped rq template (the base and its blocks) and the same file written out in
    full give the same bytes."""
    shipped = tmp_path / "shipped"
    assert _compile(cli, example_inventory, shipped).exit_code == 0
    (example_inventory / "templates").mkdir()
    (example_inventory / "templates" / "rq.conf.j2").write_text(OWN_RQ)
    own = tmp_path / "own"
    assert _compile(cli, example_inventory, own).exit_code == 0
    assert without_secrets(tree(own)) == without_secrets(tree(shipped))


def test_an_inventory_template_extends_the_base(cli, example_inventory, tmp_path):
    """A runtime's template of a few lines over the shipped base; the inventory's own base
    applies to every runtime that has no template of its own there."""
    templates = example_inventory / "templates"
    templates.mkdir()
    (templates / "rq.conf.j2").write_text(
        '{% extends "program.conf.j2" %}\n'
        "{% block about %}ACME rq workers.{% endblock %}\n"
        "{% block stop %}ACME: TERM, then KILL.{% endblock %}\n")
    out = tmp_path / "bundles"
    assert _compile(cli, example_inventory, out).exit_code == 0
    rq = (out / "worker-batch-1/programs/reports-exports.conf").read_text()
    assert "\n; ACME rq workers.\n[program:reports-exports]\n" in rq
    assert "\n; ACME: TERM, then KILL.\nstopsignal=TERM\n" in rq
    from hznctl.targets.supervisord.render import builtin_templates

    base = (builtin_templates() / "program.conf.j2").read_text()
    (templates / "program.conf.j2").write_text(base.replace(
        "; Generated by hznctl", "; ACME base; generated by hznctl"))
    again = tmp_path / "again"
    assert _compile(cli, example_inventory, again).exit_code == 0
    files = tree(again)
    programs = [p for p in files if "/programs/" in p]
    assert programs and all(files[p].startswith(b"; ACME base; generated by hznctl")
                            for p in programs)


@pytest.mark.parametrize(("addition", "message"), [
    ("; Größe\n", "program files hold only ASCII"),
    ("[DEFAULT]\numask=000\n", "[DEFAULT]"),
    ("  --continued\n", "supervisor makes processes"),
])
def test_an_inventory_template_supervisor_would_misread_writes_nothing(
        cli, example_inventory, tmp_path, addition, message):
    templates = example_inventory / "templates"
    templates.mkdir()
    (templates / "rq.conf.j2").write_text(OWN_RQ.replace("numprocs=", addition + "numprocs="),
                                          encoding="utf-8")
    out = tmp_path / "bundles"
    result = _compile(cli, example_inventory, out)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()
