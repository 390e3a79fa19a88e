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


class ExecSpec(Model):
    format: Literal[1] = 1
    identity_file: AbsolutePath = Field(description="The host's age identity file.")
    env: dict[EnvVarName, str] = Field(default_factory=dict)
    secrets: dict[EnvVarName, SecretEnv] = Field(default_factory=dict)
    urls: dict[EnvVarName, RedisUrl] = Field(default_factory=dict)
