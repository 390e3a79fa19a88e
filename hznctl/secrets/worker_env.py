"""A worker's environment at start time: the exec spec's variables plus decrypted secrets.

The spec (written by compile) holds no secret, only where each one is. Here the host's age
key opens the SOPS files and the values become environment variables: never arguments,
never files. Redis URLs are assembled here so that a password with ``@``, ``:`` or ``/``
cannot break them (percent-encoding).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

from pydantic import ValidationError

from hznctl.execspec import ExecSpec, Recycle, RedisUrl
from hznctl.secrets.decrypt import Identities, decrypt_value, load_identities, read_bounded
from hznctl.secrets.errors import SecretError
from hznctl.secrets.identity import file_value_identity

IDENTITY_OVERRIDE_ENV = "HZNCTL_AGE_KEY_FILE"
# Private key material a worker never needs, whoever put it in our environment.
SCRUBBED_ENV = ("SOPS_AGE_KEY",)
MAX_SPEC_BYTES = 1024 * 1024


@dataclass
class WorkerEnvironment:
    env: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    recycle: Recycle | None = None


def read_spec(path: Path) -> ExecSpec:
    data = read_bounded(path, MAX_SPEC_BYTES, "exec spec")
    try:
        return ExecSpec.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise SecretError(f"exec spec {path} is invalid: {where}: {first['msg']} "
                          f"({exc.error_count()} problem(s))") from None


def identity_file(spec: ExecSpec, environ: Mapping[str, str]) -> Path:
    return Path(environ.get(IDENTITY_OVERRIDE_ENV) or spec.identity_file)


def redis_url(url: RedisUrl, values: Mapping[str, str]) -> str:
    """redis:// or rediss:// URL with user and password percent-encoded."""
    password = None
    if url.password_env is not None:
        if url.password_env not in values:
            raise SecretError(f"the URL's password variable {url.password_env} is not "
                              "defined by the exec spec")
        password = values[url.password_env]
    credentials = ""
    if url.username is not None or password:
        credentials = quote(url.username or "", safe="")
        if password:
            credentials += ":" + quote(password, safe="")
        credentials += "@"
    host = f"[{url.host}]" if ":" in url.host and not url.host.startswith("[") else url.host
    scheme = "rediss" if url.tls else "redis"
    return f"{scheme}://{credentials}{host}:{url.port}/{url.database}{_tls_query(url)}"


def _tls_query(url: RedisUrl) -> str:
    """redis-py's and kombu's TLS settings in the URL's query (``ssl_cert_reqs``, which
    kombu requires of a rediss:// URL, and ``ssl_ca_certs``)."""
    if not url.tls:
        return ""
    query = [("ssl_cert_reqs", "required" if url.verify else "none")]
    if url.ca_file is not None:
        query.append(("ssl_ca_certs", url.ca_file))
    return "?" + urlencode(query, quote_via=quote)


def build_environment(spec: ExecSpec, environ: Mapping[str, str],
                      identities: Identities | None = None) -> WorkerEnvironment:
    """The complete environment for the worker: inherited, then the spec's, then secrets."""
    result = WorkerEnvironment({k: v for k, v in environ.items() if k not in SCRUBBED_ENV},
                               recycle=spec.recycle)
    result.env.update(spec.env)
    if spec.secrets and identities is None:
        identities = load_identities([identity_file(spec, environ)])
    for name, secret in sorted(spec.secrets.items()):
        path = Path(secret.file)
        if file_value_identity(path) not in (secret.sha256, None):
            result.warnings.append(
                f"{path} changed since this worker's configuration was compiled; using the "
                "file on disk (a deploy will restart the worker with the new configuration)")
        assert identities is not None
        try:
            result.env[name] = decrypt_value(path, secret.key, identities)
        except SecretError as exc:
            raise SecretError(f"cannot set {name}: {exc}") from None
    own = {**spec.env, **{name: result.env[name] for name in spec.secrets}}
    for name, url in sorted(spec.urls.items()):
        result.env[name] = redis_url(url, own)
    return result


def worker_environment(spec_path: Path, environ: Mapping[str, str] | None = None
                       ) -> WorkerEnvironment:
    return build_environment(read_spec(spec_path), os.environ if environ is None else environ)
