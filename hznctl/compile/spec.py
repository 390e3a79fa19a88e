"""Exec specs: the environment `hznctl exec` gives a worker (where its secrets are, no secret).

Variables: REDIS_HOST, REDIS_PORT, REDIS_DB, REDIS_USERNAME (when set), and for TLS
REDIS_SCHEME=tls, REDIS_TLS_VERIFY, REDIS_CA_FILE, REDIS_SERVER_NAME (when set) in ``env``,
REDIS_PASSWORD in ``secrets`` (decrypted at exec time from the SOPS file installed with the
bundle), REDIS_URL in ``urls``, plus the runtime's own URL variables (RQ_REDIS_URL,
CELERY_BROKER_URL) and the application's and worker group's ``env``. A Horizon program
whose groups use other connections than the primary also gets REDIS_<NAME>_* for those.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from hznctl.bundle.jsonout import dump_json
from hznctl.execspec import ExecSpec, Recycle, RedisUrl, SecretEnv
from hznctl.models import RedisConnection, Runtime

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


@dataclass(frozen=True)
class _ConnectionEntries:
    """A connection's part of an exec spec under one prefix, with its entries' JSON."""

    env: dict[str, str]
    secrets: dict[str, tuple[SecretEnv, str]]
    urls: dict[str, tuple[RedisUrl, str]]
    secret_file: tuple[str, str] | None  # bundle path, inventory path


class SpecParts:
    """What every exec spec of a compile shares, made once: each connection's entries.

    Keyed by everything an entry is made from (the connection's name within the one
    inventory of the compile, the prefix, the URL aliases and the host's state_dir).
    """

    def __init__(self, connections: Mapping[str, RedisConnection],
                 secret_hash: Callable[[str], str]) -> None:
        self.connections = connections
        self.secret_hash = secret_hash
        self._entries: dict[tuple[str, str, tuple[str, ...], str], _ConnectionEntries] = {}

    def entries(self, name: str, prefix: str, url_aliases: Sequence[str],
                state_dir: str) -> _ConnectionEntries:
        key = (name, prefix, tuple(url_aliases), state_dir)
        found = self._entries.get(key)
        if found is None:
            found = self._entries[key] = self._make(self.connections[name], *key[1:])
        return found

    def _make(self, conn: RedisConnection, prefix: str, url_aliases: tuple[str, ...],
              state_dir: str) -> _ConnectionEntries:
        env = {f"{prefix}_HOST": conn.host, f"{prefix}_PORT": str(conn.port),
               f"{prefix}_DB": str(conn.database)}
        if conn.username is not None:
            env[f"{prefix}_USERNAME"] = conn.username
        if conn.tls.enabled:  # what Laravel's phpredis and your own code read (see docs)
            env[f"{prefix}_SCHEME"] = "tls"
            env[f"{prefix}_TLS_VERIFY"] = "1" if conn.tls.verify else "0"
            if conn.tls.ca_file is not None:
                env[f"{prefix}_CA_FILE"] = conn.tls.ca_file
            if conn.tls.server_name is not None:
                env[f"{prefix}_SERVER_NAME"] = conn.tls.server_name
        secrets = {}
        secret_file = None
        password_env = None
        if conn.password is not None:
            path = secret_bundle_path(conn.password.sops)
            password_env = f"{prefix}_PASSWORD"
            secret = SecretEnv(file=f"{state_dir}/current/{path}", key=conn.password.key,
                               sha256=self.secret_hash(conn.password.sops))
            secrets[password_env] = (secret, _member_json(secret))
            secret_file = (path, conn.password.sops)
        url = RedisUrl(tls=conn.tls.enabled, host=conn.host, port=conn.port,
                       database=conn.database, username=conn.username,
                       password_env=password_env, ca_file=conn.tls.ca_file,
                       verify=conn.tls.verify)
        url_json = _member_json(url)
        urls = {name: (url, url_json) for name in (f"{prefix}_URL", *url_aliases)}
        return _ConnectionEntries(env, secrets, urls, secret_file)


@dataclass
class SpecBuilder:
    """Accumulates one program's exec spec from the compile's shared ``parts``."""

    state_dir: str  # the host's supervisord.state_dir, where its bundle is installed
    parts: SpecParts

    def __post_init__(self) -> None:
        self.env: dict[str, str] = {}
        self.secrets: dict[str, tuple[SecretEnv, str]] = {}
        self.urls: dict[str, tuple[RedisUrl, str]] = {}
        self.secret_files: dict[str, str] = {}  # bundle path -> inventory path
        self.recycle: Recycle | None = None

    def installed(self, bundle_path: str) -> str:
        return f"{self.state_dir}/current/{bundle_path}"

    def connection(self, name: str, prefix: str = "REDIS",
                   url_aliases: Sequence[str] = ()) -> None:
        entries = self.parts.entries(name, prefix, url_aliases, self.state_dir)
        self.env.update(entries.env)
        self.secrets.update(entries.secrets)
        self.urls.update(entries.urls)
        if entries.secret_file is not None:
            path, sops = entries.secret_file
            if self.secret_files.setdefault(path, sops) != sops:
                raise ValueError(f"two secret files would both be installed as {path}")

    def build(self, identity_file: str) -> tuple[ExecSpec, bytes]:
        env = dict(sorted(self.env.items()))
        spec = ExecSpec(identity_file=identity_file, env=env,
                        secrets={k: v for k, (v, _) in self.secrets.items()},
                        urls={k: v for k, (v, _) in self.urls.items()}, recycle=self.recycle)
        # dump_json(spec.model_dump(mode="json")), from the entries' JSON made once each.
        members = {
            "env": json_object({k: _encode(v) for k, v in env.items()}, 1),
            "format": str(spec.format),
            "identity_file": _encode(identity_file),
            "secrets": json_object({k: j for k, (_, j) in self.secrets.items()}, 1),
            "urls": json_object({k: j for k, (_, j) in self.urls.items()}, 1),
        }
        if self.recycle is not None:  # absent otherwise: specs without it stay as they were
            members["recycle"] = json_member(self.recycle.model_dump(mode="json"), 1)
        return spec, (json_object(members, 0) + "\n").encode()


_encode = json.encoder.encode_basestring  # dump_json's spelling of a string


def json_string(text: str) -> str:
    return _encode(text)


def json_object(members: Mapping[str, str], depth: int) -> str:
    """An object as ``dump_json`` lays it out at ``depth``, from its members' JSON text.

    Each member's text must already be laid out for ``depth + 1``.
    """
    if not members:
        return "{}"
    outer = "\n" + "  " * depth
    inner = outer + "  "
    return ("{" + ",".join(f"{inner}{_encode(k)}: {members[k]}" for k in sorted(members))
            + outer + "}")


def json_member(data: object, depth: int) -> str:
    """``data`` as ``dump_json`` lays it out at ``depth``, for ``json_object``."""
    # dump_json writes no raw newline inside a string: every newline is layout.
    text = dump_json(data).decode()
    return text.removesuffix("\n").replace("\n", "\n" + "  " * depth)


def _member_json(model: BaseModel) -> str:
    """A secret's or URL's entry, laid out for its place in an exec spec."""
    return json_member(model.model_dump(mode="json"), 2)
