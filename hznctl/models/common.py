"""Building blocks shared by every inventory model: strictness, names, partial models."""

from __future__ import annotations

import re
from typing import Annotated, Any, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
QUEUE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
USER_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}$"
ENV_VAR_PATTERN = r"^[A-Z_][A-Z0-9_]{0,127}$"
LABEL_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
AGE_RECIPIENT_PATTERN = r"^age1[02-9ac-hj-np-z]{58}$"
# No control characters (newline, CR, NUL, U+2028 …): a value that reaches an INI line or a
# command line must stay on one line; escaping for INI happens in the renderer.
_SINGLE_LINE = r"^[^\x00-\x1f\x7f\x85\u2028\u2029]*$"
ABSOLUTE_PATH_PATTERN = r"^/[^\x00-\x1f\x7f\x85\u2028\u2029]{0,1023}$"

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
QueueName = Annotated[str, StringConstraints(pattern=QUEUE_PATTERN)]
UnixUser = Annotated[str, StringConstraints(pattern=USER_PATTERN)]
EnvVarName = Annotated[str, StringConstraints(pattern=ENV_VAR_PATTERN)]
LabelKey = Annotated[str, StringConstraints(pattern=LABEL_PATTERN)]
AbsolutePath = Annotated[str, StringConstraints(pattern=ABSOLUTE_PATH_PATTERN)]
AgeRecipient = Annotated[str, StringConstraints(pattern=AGE_RECIPIENT_PATTERN)]
SingleLine = Annotated[str, StringConstraints(pattern=_SINGLE_LINE, max_length=4096)]
ShortText = Annotated[str, StringConstraints(pattern=_SINGLE_LINE, max_length=255)]
LongText = Annotated[str, StringConstraints(max_length=65536)]
Seconds = Annotated[int, Field(ge=0, le=86400 * 7)]

PATTERN_HELP = {
    SLUG_PATTERN: "lowercase letters, digits and '-', starting with a letter or digit, "
    "at most 63 characters",
    QUEUE_PATTERN: "letters, digits and '_.:-', starting with a letter or digit",
    USER_PATTERN: "a unix user name: lowercase letters, digits, '_' and '-'",
    ENV_VAR_PATTERN: "an environment variable name: A-Z, 0-9 and '_'",
    LABEL_PATTERN: "lowercase letters, digits and '_.-'",
    ABSOLUTE_PATH_PATTERN: "an absolute path on one line",
    AGE_RECIPIENT_PATTERN: "an age public key (age1…, 62 characters; see `hznctl secrets "
    "keygen`)",
    _SINGLE_LINE: "a single line of text without control characters",
    # Patterns declared next to their models; keyed here by their text so every model's
    # mismatch message explains the form instead of quoting a regular expression.
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$": "letters, digits and '_.-', starting with a letter "
    "or digit, at most 63 characters",
    r"^#[0-9A-Fa-f]{6}$": "a colour written #RRGGBB",
    r"^[a-z0-9][a-z0-9-]{0,63}$": "an icon name: lowercase letters, digits and '-'",
    r"^[^\x00-\x1f\x7f\x85\u2028\u2029]{0,4096}$": "a single line of text without control "
    "characters",
    r"^[A-Za-z_][A-Za-z0-9_.:]{0,255}$": "a Python module path such as myapp.worker or "
    "myapp.worker:app",
    r"^[A-Za-z0-9_.:{}-]{0,128}$": "letters, digits and '_.:{}-'",
    r"^[A-Za-z0-9_.:{}-]{1,128}$": "1 to 128 letters, digits and '_.:{}-'",
    r"^[A-Za-z0-9_.@-]{1,128}$": "a user name: letters, digits and '_.@-'",
    r"^(?:unix://|https?://)[^\s\x00-\x1f\x7f]{1,1024}$": "a unix://, http:// or https:// "
    "URL",
    r"^[0-9]{1,12}(KB|MB|GB)?$": "a size in bytes, or with KB, MB or GB (e.g. 50MB)",
    r"^0?[0-7]{3}$": "an octal umask such as 022 or 0027",
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$": "a host name or an IP address",
}


class Model(BaseModel):
    """Strict and closed: unknown keys are errors, no silent type coercion."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        validate_default=False,
        use_enum_values=False,
        regex_engine="python-re",
    )


M = TypeVar("M", bound=BaseModel)


def partial_model(model: type[M], name: str, *, exclude: set[str], doc: str) -> type[Model]:
    """A model with the same fields as ``model``, all optional, for project-wide defaults."""
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        if field_name in exclude:
            continue
        annotation: Any = info.annotation
        if info.metadata:  # constraints and Strict(False) live here, not in the annotation
            annotation = Annotated[annotation, *info.metadata]
        fields[field_name] = (
            Optional[annotation],  # noqa: UP045 - annotation is a runtime value
            Field(default=None, description=info.description, json_schema_extra=None),
        )
    partial: type[Model] = create_model(name, __base__=Model, __doc__=doc, **fields)
    return partial


def defined(values: BaseModel) -> dict[str, Any]:
    """The fields of a partial model that are set (defaults to merge into a document)."""
    return {k: v for k, v in values.model_dump(mode="python").items() if v is not None}


def is_valid_slug(value: str) -> bool:
    return re.match(SLUG_PATTERN, value) is not None
