"""What looks like a credential in a text: never echoed back in a message.

A URL carrying a password (``redis://:hunter2@host``) or an age private key is a secret
wherever it is written; an error about the field that holds it says so without quoting it.
"""

from __future__ import annotations

import re

URL_WITH_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:[^\s/@]+@")
AGE_PRIVATE_KEY = "AGE-SECRET-KEY-1"
HIDDEN = "(a value that looks like a credential, not shown)"


def url_with_password(value: str) -> bool:
    # "://" and "@" are in every match: most values skip the regular expression.
    return "@" in value and "://" in value and URL_WITH_PASSWORD.search(value) is not None


def looks_like_credential(value: object) -> bool:
    return isinstance(value, str) and (AGE_PRIVATE_KEY in value.upper()
                                       or url_with_password(value))
