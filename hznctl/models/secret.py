"""References to secrets held in SOPS-encrypted files, never the secrets themselves."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from hznctl.models.common import PATTERN_HELP, Model

SECRET_FILE_PATTERN = r"^(?!/)(?!.*(?:^|/)\.\.(?:/|$))[A-Za-z0-9_./-]{1,255}\.(?:ya?ml|json)$"
SECRET_KEY_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
PATTERN_HELP[SECRET_FILE_PATTERN] = (
    "a .yaml, .yml or .json file inside the inventory folder, e.g. secrets/<name>.yaml"
)
PATTERN_HELP[SECRET_KEY_PATTERN] = "a top-level key: letters, digits, '_' and '-'"

LITERAL_SECRET_MESSAGE = (
    "a literal secret is not allowed here; reference a SOPS-encrypted file instead: "
    "{sops: secrets/<file>.yaml, key: <key>}"
)


class SecretRef(Model):
    """Where a secret lives: a SOPS file relative to the inventory, and the key inside it."""

    sops: Annotated[str, StringConstraints(pattern=SECRET_FILE_PATTERN)] = Field(
        description="Path of the SOPS-encrypted file, relative to the inventory folder."
    )
    key: Annotated[str, StringConstraints(pattern=SECRET_KEY_PATTERN)] = Field(
        description="Top-level key in that file that holds the value."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_literal(cls, data: Any) -> Any:
        if isinstance(data, str | int | float) and not isinstance(data, bool):
            # The value is never echoed back: it may be the password itself.
            raise ValueError(LITERAL_SECRET_MESSAGE)
        return data
