"""`hznctl import horizon`: an application's Horizon supervisors as its worker groups.

config/horizon.php is PHP, so it is read by PHP: a short script defines Laravel's `env()`
(with the defaults the file gives, or the values of an `.env` file named on the command
line), loads the file and prints the `defaults` and `environments` arrays as JSON. PHP runs
with an empty environment and a time limit, and its output is bounded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hznctl.diagnostics import Diagnostic, Severity
from hznctl.importer.build import slug
from hznctl.importer.source import ImportError_

MAX_OUTPUT = 1 << 20
PHP_TIMEOUT = 30.0
_READER = r"""
$values = json_decode(stream_get_contents(STDIN), true) ?: [];
function env($key, $default = null) {
    global $values;
    if (!array_key_exists($key, $values)) {
        return $default instanceof Closure ? $default() : $default;
    }
    $value = $values[$key];
    switch (strtolower($value)) {
        case 'true': case '(true)': return true;
        case 'false': case '(false)': return false;
        case 'empty': case '(empty)': return '';
        case 'null': case '(null)': return null;
    }
    return $value;
}
foreach (['/usr/share/php/Illuminate/Support/autoload.php'] as $autoload) {
    if (is_file($autoload)) { require_once $autoload; }
}
if (!class_exists('Illuminate\Support\Str')) {
    eval('namespace Illuminate\Support; class Str { public static function slug($t, $s = "-")'
        . ' { return trim(preg_replace("/[^a-z0-9]+/", $s, strtolower($t)), $s); } }');
}
$config = require $argv[1];
if (!is_array($config)) { fwrite(STDERR, "not an array\n"); exit(3); }
echo json_encode(['defaults' => $config['defaults'] ?? [],
                  'environments' => $config['environments'] ?? []]);
"""
# Horizon supervisor option -> worker group field (laravel/horizon src/SupervisorOptions.php)
_FIELDS = {"minProcesses": "min_processes", "maxProcesses": "max_processes",
           "maxTime": "max_time", "maxJobs": "max_jobs", "memory": "memory", "tries": "tries",
           "timeout": "timeout", "nice": "nice", "sleep": "sleep", "backoff": "backoff"}
_IGNORED = {"connection", "queue", "balance", "name", "workersName", "parentId",
            "directory", "autoScalingStrategy", "balanceMaxShift", "balanceCooldown",
            "rest", "force"}


@dataclass
class HorizonGroups:
    workers: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)


def read_config(config: Path, values: Mapping[str, str]) -> dict[str, Any]:
    """The `defaults` and `environments` of config/horizon.php, as PHP evaluates them."""
    php = shutil.which("php")
    if php is None:
        raise ImportError_("reading config/horizon.php needs PHP, which is not installed "
                           "(Debian/Ubuntu: apt-get install php-cli); nothing was imported")
    if not config.is_file():
        raise ImportError_(f"{config}: no such file")
    try:
        done = subprocess.run([php, "-d", "display_errors=stderr", "-d",
                               f"max_execution_time={int(PHP_TIMEOUT)}", "-r", _READER,
                               str(config.resolve())],
                              input=json.dumps(dict(values)).encode(), capture_output=True,
                              timeout=PHP_TIMEOUT, env={"PATH": "/usr/bin:/bin"},
                              cwd=config.resolve().parent, check=False)
    except subprocess.TimeoutExpired:
        raise ImportError_(f"{config}: PHP did not finish within {PHP_TIMEOUT:.0f}s") from None
    if done.returncode != 0 or len(done.stdout) > MAX_OUTPUT:
        first = done.stderr.decode("utf-8", "replace").strip().splitlines()[:1]
        reason = first[0][:300] if first else f"exit code {done.returncode}"
        raise ImportError_(f"{config}: PHP could not read it: {reason}")
    try:
        data: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        raise ImportError_(f"{config}: PHP printed something that is not JSON") from None
    return data


def _list(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    return value if isinstance(value, list) else [value]


def supervisors(config: dict[str, Any], environment: str, shown: str) -> HorizonGroups:
    """The worker groups of ``environment``'s supervisors, defaults merged as Horizon does."""
    environments = config.get("environments") or {}
    if not isinstance(environments, dict) or environment not in environments:
        known = ", ".join(sorted(environments)) if isinstance(environments, dict) else ""
        raise ImportError_(f"{shown}: no environment {environment!r} in its environments "
                           f"({known or 'none'})")
    defaults = config.get("defaults") or {}
    result = HorizonGroups()
    for name, own in sorted(_list_items(environments[environment])):
        merged = {**(defaults.get(name) or {} if isinstance(defaults, dict) else {}),
                  **(own or {})}
        result.workers.append(_worker(name, merged, shown, result.warnings))
    return result


def _list_items(value: Any) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(value, dict):
        return [(str(k), v if isinstance(v, dict) else {}) for k, v in value.items()]
    return []


def _worker(name: str, options: dict[str, Any], shown: str,
            warnings: list[Diagnostic]) -> dict[str, Any]:
    where = f"environments.{name}"

    def warn(message: str) -> None:
        warnings.append(Diagnostic(shown, 1, 1, where, message, Severity.WARNING))

    worker: dict[str, Any] = {"name": slug(name)}
    queues = [str(q) for q in _list(options.get("queue", ["default"])) if q]
    worker["queues"] = queues or ["default"]
    balance = options.get("balance", "off")
    worker["balance"] = {"auto": "auto", "simple": "simple"}.get(str(balance), "off")
    if balance not in (False, None, "off", "false", "auto", "simple"):
        warn(f"balance {balance!r} is not one Horizon knows; imported as off")
    for key, target in _FIELDS.items():
        if key in options and options[key] is not None:
            value = options[key]
            worker[target] = value if key == "backoff" and isinstance(value, list) else (
                int(value) if isinstance(value, int | float | str) and str(value).lstrip(
                    "-").replace(".", "", 1).isdigit() else value)
    if options.get("connection", "redis") != "redis":
        warn(f"connection {options['connection']!r}: imported on the application's primary "
             "connection (hznctl points Laravel's `redis` queue connection at it)")
    for key in sorted(set(options) - set(_FIELDS) - _IGNORED):
        warn(f"{key} is not imported: hznctl does not express it")
    for key in sorted(set(options) & {"autoScalingStrategy", "balanceMaxShift",
                                      "balanceCooldown", "rest", "force"}):
        warn(f"{key} is not imported: hznctl does not express it yet")
    return worker


def import_horizon(root: Path, application: str, config: Path, environment: str, *,
                   hosts: list[str], values: Mapping[str, str]) -> tuple[dict[str, str],
                                                                    HorizonGroups]:
    """The application file's new text with ``environment``'s supervisors as worker groups."""
    from hznctl.importer.run import _inventory
    from hznctl.models import Runtime
    from hznctl.scaffold.workers import add_worker

    inventory = _inventory(root)
    app = inventory.applications.get(application)
    if app is None:
        raise ImportError_(f"no application {application!r} in the inventory: import its "
                           "supervisord files first, or add it with `hznctl new application`")
    if app.runtime is not Runtime.LARAVEL_HORIZON:
        raise ImportError_(f"application {application} runs {app.runtime}, not "
                           "laravel-horizon")
    groups = supervisors(read_config(config, values), environment, str(config))
    placed = sorted({h for w in app.workers for h in w.hosts})
    chosen = hosts or placed
    if not chosen and not any(w.host_labels for w in app.workers):
        raise ImportError_(f"application {application} runs on no host yet: say where with "
                           "--host NAME")
    relative = f"applications/{application}.yaml"
    text = (root / relative).read_text(encoding="utf-8")
    taken = {w.name for w in app.workers}
    for worker in groups.workers:
        if worker["name"] in taken:
            groups.warnings.append(Diagnostic(str(config), 1, 1, f"environments.{worker['name']}",
                                              f"{application} already has a worker group "
                                              f"{worker['name']}; not imported again",
                                              Severity.WARNING))
            continue
        if chosen:
            worker["hosts"] = chosen
        text = add_worker(text, worker, relative)
    return {relative: text}, groups
