"""supervisor's conversions of the program options deploy compares with what supervisord
read (supervisor/datatypes.py, 4.3.0), without importing it.

`supervisor.datatypes` imports `supervisor.compat`, which imports `xmlrpc.client`,
`http.client`, `configparser`, `html` and `importlib.metadata`: more than a deploy
costs otherwise. These are the same functions, line for line in what they accept, return
and refuse; tests/unit/test_supervisord_datatypes.py holds each to supervisor's own on
arbitrary text.
"""

from __future__ import annotations

import pwd
import signal

# datatypes.py:27-28
TRUTHY_STRINGS = ("yes", "true", "on", "1")
FALSY_STRINGS = ("no", "false", "off", "0")
# datatypes.py:400: every signal module attribute whose name starts with SIG.
SIGNUMS = [getattr(signal, k) for k in dir(signal) if k.startswith("SIG")]


def boolean(s: object) -> bool:
    """datatypes.py:30 ``boolean``."""
    ss = str(s).lower()
    if ss in TRUTHY_STRINGS:
        return True
    if ss in FALSY_STRINGS:
        return False
    raise ValueError("not a valid boolean value: " + repr(s))


def list_of_exitcodes(arg: str) -> list[int]:
    """datatypes.py:57 ``list_of_exitcodes`` (over ``list_of_ints``, line 48)."""
    try:
        vals = list(map(int, arg.split(","))) if arg else []
        for val in vals:
            if val > 255 or val < 0:
                raise ValueError(f'Invalid exit code "{val}"')
        return vals
    except Exception:
        raise ValueError("not a valid list of exit codes: " + repr(arg)) from None


def name_to_uid(name: str) -> int:
    """datatypes.py:295 ``name_to_uid``: a user name or a user ID that exists."""
    try:
        uid = int(name)
    except ValueError:
        try:
            pwdrec = pwd.getpwnam(name)
        except KeyError:
            raise ValueError(f"Invalid user name {name}") from None
        return pwdrec[2]
    try:
        pwd.getpwuid(uid)
    except KeyError:
        raise ValueError(f"Invalid user id {name}") from None
    return uid


def octal_type(arg: str) -> int:
    """datatypes.py:337 ``octal_type``."""
    try:
        return int(arg, 8)
    except (TypeError, ValueError):
        raise ValueError(f"{arg} can not be converted to an octal type") from None


# datatypes.py:389 ``byte_size``: a SuffixMultiplier (line 367) of 2-letter suffixes.
_BYTE_SUFFIXES = {"kb": 1024, "mb": 1024 * 1024, "gb": 1024 * 1024 * 1024}


def byte_size(v: str) -> int:
    """datatypes.py:382 ``SuffixMultiplier.__call__`` for ``byte_size``."""
    v = v.lower()
    for s, m in _BYTE_SUFFIXES.items():
        if v[-2:] == s:
            return int(v[:-2]) * m
    return int(v)


def signal_number(value: str) -> int:
    """datatypes.py:402 ``signal_number``: a number or a name, with or without SIG."""
    num: object
    try:
        num = int(value)
    except (ValueError, TypeError):
        name = value.strip().upper()
        if not name.startswith("SIG"):
            name = "SIG" + name
        num = getattr(signal, name, None)
        if num is None:
            raise ValueError(f"value {value!r} is not a valid signal name") from None
    if num not in SIGNUMS or not isinstance(num, int):
        raise ValueError(f"value {value!r} is not a valid signal number")
    return int(num)
