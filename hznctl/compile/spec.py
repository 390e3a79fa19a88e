"""Exec specs: the environment `hznctl exec` gives a worker (where its secrets are, no secret).

Variables: REDIS_HOST, REDIS_PORT, REDIS_DB, REDIS_USERNAME (when set) in ``env``,
REDIS_PASSWORD in ``secrets`` (decrypted at exec time from the SOPS file installed with the
bundle), REDIS_URL in ``urls``, plus the runtime's own URL variables (RQ_REDIS_URL,
CELERY_BROKER_URL) and the application's and worker group's ``env``. A Horizon program
whose groups use other connections than the primary also gets REDIS_<NAME>_* for those.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hznctl.bundle import sha256_hex
from hznctl.execspec import ExecSpec, RedisUrl, SecretEnv
from hznctl.models import Host, RedisConnection, Runtime

LARAVEL_RUNTIMES = (Runtime.LARAVEL_QUEUE, Runtime.LARAVEL_HORIZON)
RESERVED_PREFIXES = ("REDIS_", "HZNCTL_")
RESERVED_NAMES = frozenset({"RQ_REDIS_URL", "CELERY_BROKER_URL"})


def is_reserved(name: str) -> bool:
    """Variables hznctl sets itself; an inventory ``env`` may not override them."""
    return name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES)


def secret_bundle_path(sops_path: str) -> str:
    """Where a SOPS file of the inventory goes in a bundle."""
    return "secrets/" + sops_path.removeprefix("secrets/")


def env_prefix(connection: str) -> str:
    return "REDIS_" + connection.upper().replace("-", "_")


@dataclass
class SpecBuilder:
    """Accumulates one program's exec spec; ``secret_hash`` reads a SOPS file's hash."""

    host: Host
    secret_hash: Callable[[str], str]

    def __post_init__(self) -> None:
        self.env: dict[str, str] = {}
        self.secrets: dict[str, SecretEnv] = {}
        self.urls: dict[str, RedisUrl] = {}
        self.secret_files: dict[str, str] = {}  # bundle path -> inventory path

    def installed(self, bundle_path: str) -> str:
        return f"{self.host.supervisord.state_dir}/current/{bundle_path}"

    def connection(self, conn: RedisConnection, prefix: str = "REDIS",
                   url_aliases: Sequence[str] = ()) -> None:
        self.env[f"{prefix}_HOST"] = conn.host
        self.env[f"{prefix}_PORT"] = str(conn.port)
        self.env[f"{prefix}_DB"] = str(conn.database)
        if conn.username is not None:
            self.env[f"{prefix}_USERNAME"] = conn.username
        password_env = None
        if conn.password is not None:
            path = secret_bundle_path(conn.password.sops)
            password_env = f"{prefix}_PASSWORD"
            self.secrets[password_env] = SecretEnv(
                file=self.installed(path), key=conn.password.key,
                sha256=self.secret_hash(conn.password.sops),
            )
            if self.secret_files.setdefault(path, conn.password.sops) != conn.password.sops:
                raise ValueError(f"two secret files would both be installed as {path}")
        url = RedisUrl(tls=conn.tls.enabled, host=conn.host, port=conn.port,
                       database=conn.database, username=conn.username,
                       password_env=password_env)
        for name in (f"{prefix}_URL", *url_aliases):
            self.urls[name] = url

    def build(self, identity_file: str) -> tuple[ExecSpec, bytes]:
        from hznctl.bundle import dump_json

        spec = ExecSpec(identity_file=identity_file, env=dict(sorted(self.env.items())),
                        secrets=self.secrets, urls=self.urls)
        return spec, dump_json(spec.model_dump(mode="json"))


def spec_hash(data: bytes) -> str:
    return sha256_hex(data)
