"""docs/runtimes/laravel.md's config snippets, loaded in real PHP with Debian's Laravel
framework, read what hznctl exports: Horizon's supervisors from HZNCTL_HORIZON_FILE (as
compiled from the example inventory), retry_after from REDIS_QUEUE_RETRY_AFTER, and the
REDIS_<NAME>_* variables of another connection."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.runtime_apps import LARAVEL, PHP, php_snippet

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(PHP is None or not LARAVEL.exists(),
                                 reason="php-cli and php-laravel-framework are not installed")]


def _load(tmp_path: Path, name: str, env: dict[str, str]) -> Any:
    config = tmp_path / name
    config.write_text(php_snippet(name))
    code = (f"require {str(LARAVEL)!r}; "
            f"echo json_encode(require {str(config)!r}, JSON_THROW_ON_ERROR);")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "HZNCTL_"))}
    done = subprocess.run([str(PHP), "-r", code], capture_output=True, text=True, timeout=60,
                          env={**clean, **env}, check=False)
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


def test_horizon_config_runs_the_supervisors_hznctl_compiled(cli, example_inventory, tmp_path):
    """laravel/horizon src/ProvisioningPlan.php convert(): minProcesses < 1 throws;
    src/SupervisorOptions.php: balance is 'auto', 'simple' or 'off' (autoScaling() is
    balance !== 'simple')."""
    out = tmp_path / "out"
    assert cli("compile", str(example_inventory), "--out", str(out)).exit_code == 0
    horizon_file = out / "worker-eu-1" / "horizon" / "billing.json"
    compiled = json.loads(horizon_file.read_text())["supervisors"]
    config = _load(tmp_path, "horizon.php", {"HZNCTL_HORIZON_FILE": str(horizon_file),
                                             "APP_ENV": "production"})
    assert config["environments"] == {"production": compiled}
    for supervisor in compiled.values():
        assert supervisor["minProcesses"] >= 1
        assert supervisor["balance"] in ("auto", "simple", "off")
    assert _load(tmp_path, "horizon.php", {})["environments"] == {"production": []}


def test_queue_and_database_config_read_what_hznctl_exports(tmp_path):
    queue = _load(tmp_path, "queue.php", {"REDIS_QUEUE_RETRY_AFTER": "77"})
    assert queue["connections"]["redis"]["retry_after"] == 77
    assert queue["connections"]["redis-jobs"]["connection"] == "redis-jobs"
    database = _load(tmp_path, "database.php", {
        "REDIS_HOST": "10.0.0.1", "REDIS_PORT": "6380", "REDIS_DB": "3",
        "REDIS_PREFIX": "shop_", "REDIS_REDIS_JOBS_HOST": "10.0.0.2"})
    redis = database["redis"]
    assert (redis["default"]["host"], redis["default"]["port"], redis["default"]["database"]) \
        == ("10.0.0.1", "6380", "3")
    assert redis["options"]["prefix"] == "shop_"
    assert redis["redis-jobs"]["host"] == "10.0.0.2"
