"""`hznctl import`: a fleet's supervisord files (and Horizon config) become inventory.

The corpus in import_corpus/ follows public examples (SOURCES.md); each import is checked
the way `hznctl new` is — nothing written unless it validates — with passwords moved into
SOPS files by the real sops binary and a round trip against the compiled programs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from hznctl.secrets.decrypt import clear_cache, decrypt_value, load_identities
from tests.support import collect_text, make_age_key

pytestmark = pytest.mark.timeout(180)
CORPUS = Path(__file__).parent / "import_corpus"
CANARIES = ("canary-Shop-Pass-4711", "canary-Rq-Pass-0815")


@pytest.fixture
def repo(cli, tmp_path, monkeypatch):
    root = tmp_path / "queues"
    assert cli("init", str(root), "--environment", "production").exit_code == 0
    shutil.copytree(CORPUS, root / "from-hosts")
    monkeypatch.chdir(root)  # every path below is relative, as an operator types them
    return root


def files_of(root):
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_corpus_imports_validates_and_keeps_passwords_out_of_yaml(cli, repo):
    key = make_age_key(repo / ".hznctl" / "web-1.agekey")
    files = sorted(str(p.relative_to(repo)) for p in (repo / "from-hosts").glob("*.conf"))
    result = cli("import", "supervisord", "web-1", *files, "--age-recipient", key.recipient)
    assert result.exit_code == 0, result.output
    out = result.output
    # What cannot be expressed is said at its place.
    assert "from-hosts/container.conf:19:1: warning: eventlistener:crashmail" in out
    assert ("from-hosts/container.conf:17:1: warning: program:beat.autostart: expands "
            "ENV_ENABLE_BEAT") in out
    assert "from-hosts/laravel-worker.conf:3:1: warning: program:shop-worker.command" in out
    # Each password found is named as moved, and is nowhere in plaintext.
    assert "moved the password of redis-shop (from-hosts/laravel-worker.conf:13)" in out
    assert "moved the password of redis-reports-db2 (from-hosts/rq-worker.conf:3)" in out
    for canary in CANARIES:
        assert canary not in out
        for path, data in collect_text([repo / "inventory"]):
            assert canary.encode() not in data, path
    clear_cache()
    ids = load_identities([key.path])
    assert decrypt_value(repo / "inventory/secrets/redis-shop.yaml", "password",
                         ids) == CANARIES[0]
    # The objects as an operator would have written them.
    shop = yaml.safe_load((repo / "inventory/applications/shop.yaml").read_text())
    assert shop["runtime"] == "laravel-queue" and shop["directory"] == "/srv/shop/current"
    assert shop["retry_after"] == 120  # above the job timeout of 90 s
    [group] = shop["workers"]
    assert group["queues"] == ["high", "default"] and group["max_processes"] == 4
    assert group["tries"] == 3 and group["timeout"] == 90 and group["stopwaitsecs"] == 3600
    assert group["hosts"] == ["web-1"] and group["env"] == {"APP_ENV": "production"}
    reports = yaml.safe_load((repo / "inventory/connections/redis-reports-db2.yaml")
                             .read_text())
    assert (reports["host"], reports["port"], reports["database"]) == (
        "redis-reports.internal", 6380, 2)
    assert reports["password"] == {"sops": "secrets/redis-reports-db2.yaml", "key": "password"}
    indexer = yaml.safe_load((repo / "inventory/applications/indexer.yaml").read_text())
    assert indexer["app_module"] == "indexer.tasks"
    assert indexer["workers"][0]["balance"] == "auto"
    # The round trip shows, per program, what the first deploy changes.
    assert "[program:reports-worker] (from-hosts/rq-worker.conf:1) → reports-worker" in out
    assert "  stopwaitsecs: 10 → 210" in out
    assert "redis://:***@redis-reports.internal:6380/2" in out
    assert cli("validate", "inventory").exit_code == 0


def test_json_output_and_dry_run_write_nothing(cli, repo):
    before = files_of(repo)
    result = cli("import", "supervisord", "web-1", "from-hosts/celeryd.conf", "--dry-run",
                 "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["dry_run"] is True
    assert "applications/indexer.yaml" in report["written"]
    [program] = report["programs"]
    assert program["program"] == "indexer-indexer"
    assert {"field": "priority", "before": "1000", "after": "999"} in program["changes"]
    assert files_of(repo) == before


def test_a_second_host_joins_the_identical_group(cli, repo):
    for host in ("web-1", "web-2"):
        key = make_age_key(repo / ".hznctl" / f"{host}.agekey")
        # The second host needs the secret re-encrypted for it: the health runner's key
        # can read it.
        result = cli("import", "supervisord", host, "from-hosts/laravel-worker.conf",
                     "--age-recipient", key.recipient,
                     env={"HZNCTL_AGE_KEY_FILE": str(repo / ".hznctl/health-runner.agekey")})
        assert result.exit_code == 0, result.output
    shop = yaml.safe_load((repo / "inventory/applications/shop.yaml").read_text())
    assert [(w["name"], w["hosts"]) for w in shop["workers"]] == [("worker", ["web-1",
                                                                              "web-2"])]
    assert cli("validate", "inventory").exit_code == 0


HOSTILE = {
    "huge.conf": ("[program:x]\ncommand=rq worker\n; " + "x" * (1 << 20) + "\n",
                  "more than the 1048576"),
    "include.conf": ("[include]\nfiles = /etc/*.conf\n", "include.conf:2: include.files "
                     "reaches"),
    "garbage.conf": ("[program:x]\ncommand=rq worker\nthis is not an option\n",
                     "garbage.conf:3: supervisord cannot parse this line"),
    "binary.conf": (b"[program:x]\ncommand=\xff\n", "binary.conf:2: not UTF-8 text"),
    "queue.conf": ("[program:x]\ncommand=rq worker 'a$(touch /tmp/pwn)'\ndirectory=/srv/x\n",
                   "queues[0]"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_files_are_refused_at_their_place_and_nothing_is_written(cli, repo, name):
    text, expected = HOSTILE[name]
    path = repo / "from-hosts" / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    before = files_of(repo / "inventory")
    result = cli("import", "supervisord", "web-1", f"from-hosts/{name}")
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert files_of(repo / "inventory") == before


def test_a_fifo_is_refused_at_once(cli, repo):
    os.mkfifo(repo / "from-hosts" / "pipe.conf")
    result = cli("import", "supervisord", "web-1", "from-hosts/pipe.conf")
    assert result.exit_code == 1
    assert "from-hosts/pipe.conf: not a regular file" in result.output


HORIZON_PHP = """<?php
use Illuminate\\Support\\Str;
return [
    'prefix' => env('HORIZON_PREFIX', Str::slug(env('APP_NAME', 'laravel'), '_').'_horizon:'),
    'defaults' => [
        'supervisor-1' => ['connection' => 'redis', 'queue' => ['default'],
                           'balance' => 'auto', 'maxProcesses' => 1, 'memory' => 128,
                           'tries' => 1, 'timeout' => 60, 'nice' => 0],
    ],
    'environments' => [
        'production' => [
            'supervisor-1' => ['queue' => ['default', 'mail'],
                               'maxProcesses' => (int) env('HORIZON_MAX', 10),
                               'balanceCooldown' => 3],
            'payments' => ['connection' => 'redis', 'queue' => ['payments'],
                           'balance' => 'simple', 'minProcesses' => 2, 'maxProcesses' => 4,
                           'tries' => 5, 'timeout' => 75],
        ],
        'local' => ['supervisor-1' => ['maxProcesses' => 3]],
    ],
];
"""


@pytest.mark.skipif(shutil.which("php") is None, reason="needs php-cli (scripts/bootstrap)")
def test_horizon_supervisors_of_one_environment_become_worker_groups(cli, repo):
    first = cli("import", "supervisord", "web-1", "from-hosts/horizon.conf")
    assert first.exit_code == 0, first.output
    billing = yaml.safe_load((repo / "inventory/applications/billing.yaml").read_text())
    assert billing["runtime"] == "laravel-horizon" and "workers" not in billing
    config = repo / "config" / "horizon.php"
    config.parent.mkdir()
    config.write_text(HORIZON_PHP)
    (repo / "app.env").write_text("HORIZON_MAX=6\n")
    result = cli("import", "horizon", "billing", "config/horizon.php", "--env", "production",
                 "--host", "web-1", "--env-file", "app.env")
    assert result.exit_code == 0, result.output
    assert "balanceCooldown is not imported" in result.output
    billing = yaml.safe_load((repo / "inventory/applications/billing.yaml").read_text())
    assert billing["workers"] == [
        {"name": "payments", "queues": ["payments"], "balance": "simple", "min_processes": 2,
         "max_processes": 4, "tries": 5, "timeout": 75, "hosts": ["web-1"]},
        {"name": "supervisor-1", "queues": ["default", "mail"], "balance": "auto",
         "max_processes": 6, "memory": 128, "tries": 1, "timeout": 60, "nice": 0,
         "hosts": ["web-1"]},
    ]
    assert cli("validate", "inventory").exit_code == 0
    missing = cli("import", "horizon", "billing", "config/horizon.php", "--env", "staging")
    assert missing.exit_code == 1
    assert "no environment 'staging' in its environments (local, production)" in missing.output


def test_horizon_without_php_says_so(cli, repo, monkeypatch):
    assert cli("import", "supervisord", "web-1", "from-hosts/horizon.conf").exit_code == 0
    monkeypatch.setenv("PATH", str(repo / "no-bin"))
    result = cli("import", "horizon", "billing", "from-hosts/horizon.conf", "--env", "x")
    assert result.exit_code == 1
    assert "needs PHP, which is not installed" in result.output


def test_supervisord_options_of_a_program_are_carried_and_round_trip(cli, repo):
    """numprocs_start, priority, startretries, autostart, redirect_stderr and umask become the
    group's `supervisord:` options; the compiled program reads back the same (no change in
    the round trip), its processes numbered from numprocs_start."""
    (repo / "from-hosts" / "numbered.conf").write_text(
        "[program:mailer]\n"
        "command=rq worker mail\n"
        "directory=/srv/mailer\n"
        "process_name=%(program_name)s_%(process_num)02d\n"
        "numprocs=2\nnumprocs_start=3\npriority=10\nstartretries=7\nautostart=false\n"
        "redirect_stderr=true\numask=002\n")
    result = cli("import", "supervisord", "web-1", "from-hosts/numbered.conf", "--format",
                 "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    [program] = report["programs"]
    carried = {"numprocs_start", "priority", "startretries", "autostart", "redirect_stderr",
               "umask"}
    assert not [c for c in program["changes"] if c["field"] in carried], program["changes"]
    assert not [w for w in report["warnings"] if w["path"].rsplit(".", 1)[-1] in carried]
    [app] = [p for p in (repo / "inventory/applications").glob("*.yaml")]
    [worker] = yaml.safe_load(app.read_text())["workers"]
    assert worker["supervisord"] == {"numprocs_start": 3, "priority": 10, "startretries": 7,
                                     "autostart": False, "redirect_stderr": True,
                                     "umask": "002"}
    out = repo / "out"
    assert cli("compile", "inventory", "--out", str(out)).exit_code == 0
    manifest = json.loads((out / "web-1" / "manifest.json").read_text())
    [group] = manifest["groups"].values()
    assert [n.rsplit("_", 1)[1] for n in group["process_names"]] == ["03", "04"]


def test_a_program_option_hznctl_cannot_take_is_a_warning_at_its_line(cli, repo):
    (repo / "from-hosts" / "bad.conf").write_text(
        "[program:mailer]\ncommand=rq worker mail\ndirectory=/srv/mailer\n"
        "numprocs_start=-1\numask=999\n")
    result = cli("import", "supervisord", "web-1", "from-hosts/bad.conf")
    assert result.exit_code == 0, result.output
    assert "bad.conf:4:1: warning: program:mailer.numprocs_start: numprocs_start=-1 is not " \
        "a value hznctl accepts; not imported" in result.output
    assert "bad.conf:5:1: warning: program:mailer.umask" in result.output
