"""The exec spec: how `hznctl exec` prepares a worker's environment at start time.

`compile` writes one spec per program into the bundle (`exec/<group>.json`); the program's
command is `<hznctl_bin> exec --spec <installed spec path> -- <worker argv…>`. The spec holds
no secret: only where each secret is (an encrypted file installed with the bundle, and the
key in it) and the identity of that file's encrypted values (`hznctl.secrets.identity`), so
that a new password changes the spec, hence the program's configuration, hence restarts
exactly the workers that use it, while re-encrypting the file for other recipients does not.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from hznctl.models.common import AbsolutePath, EnvVarName, Model

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class SecretEnv(Model):
    """An environment variable whose value is decrypted from a SOPS file at exec time."""

    file: AbsolutePath
    key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,128}$")]
    sha256: Sha256 = Field(description="SHA-256 identity of the file's encrypted values.")


class RedisUrl(Model):
    """An environment variable holding a redis:// URL assembled at exec time."""

    tls: bool = False
    host: str
    port: int
    database: int = 0
    username: str | None = None
    password_env: EnvVarName | None = Field(
        default=None, description="Secret variable (from `secrets`) holding the password."
    )
    ca_file: AbsolutePath | None = Field(
        default=None, description="TLS: the CA bundle the server's certificate is checked with "
        "(ssl_ca_certs in the URL)."
    )
    verify: bool = Field(default=True, description="TLS: check the server's certificate.")


class Recycle(Model):
    """A worker that exits by itself to be replaced (after max_jobs) may do so within
    supervisord's startsecs, which supervisord counts as a failed start (FATAL after
    startretries), and later it looks to supervisord like a crash. ``hznctl exec`` then
    runs the worker as its child and replaces it in place after such an exit (one of
    ``exit_codes``), no sooner than ``min_uptime`` seconds after the previous start; any
    other exit, a crash at start or later, ends ``hznctl exec`` with it at once."""

    min_uptime: Annotated[float, Field(gt=0, le=3600)]
    exit_codes: list[Annotated[int, Field(ge=0, le=255)]] = Field(min_length=1)


class ExecSpec(Model):
    format: Literal[1] = 1
    identity_file: AbsolutePath = Field(description="The host's age identity file.")
    env: dict[EnvVarName, str] = Field(default_factory=dict)
    secrets: dict[EnvVarName, SecretEnv] = Field(default_factory=dict)
    urls: dict[EnvVarName, RedisUrl] = Field(default_factory=dict)
    recycle: Recycle | None = None
