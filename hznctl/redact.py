"""Redaction at the edge: no secret this process decrypted leaves it in a message.

Every value hznctl decrypts from a SOPS file is remembered here (``remember``), in each
encoding a server, a library or a URL may show it in: as it is, URL-quoted, JSON- and
Python-escaped, hex, base64. Every text that comes from outside — a Redis server's error
reply, an exception's message, a webhook's answer, a subprocess' error — goes through
``redact`` before it is kept in a result, so no report, log line or notification can carry
a password even when a server echoes the command that held it (Redis 5 answers an unknown
``HELLO 3 AUTH user <password>`` with the arguments it was given).

A server may also cut what it echoes short (Redis quotes at most 128 characters of
arguments), so a run of at least ``PREFIX_MATCH`` characters of a secret's start is
redacted too.
"""

from __future__ import annotations

import base64
import json
import threading
from urllib.parse import quote, quote_plus

from hznctl.escape import visible

REDACTED = "[redacted]"
# Shorter values (a port, "true") would turn every message into noise; they are no secret.
MIN_SECRET = 4
PREFIX_MATCH = 8


def encodings(secret: str) -> set[str]:
    """The forms ``secret`` can appear in within a text."""
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {secret, quote(secret), quote(secret, safe=""), quote_plus(secret),
             json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             repr(secret)[1:-1], repr(raw)[2:-1], visible(secret),
             raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode("ascii").rstrip("=")}
    return {form for form in forms if len(form) >= MIN_SECRET}


class Redactor:
    """The secrets of this process, found by their first characters (a dictionary lookup
    per position of the text, whatever the number of secrets)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: set[str] = set()
        self._by_head: dict[str, tuple[str, ...]] = {}

    def remember(self, secret: str) -> None:
        if len(secret) < MIN_SECRET or secret in self._known:
            return
        with self._lock:
            self._known.add(secret)
            by_head = dict(self._by_head)
            for form in encodings(secret):
                head = form[:MIN_SECRET]
                by_head[head] = tuple(sorted({*by_head.get(head, ()), form}, key=len,
                                             reverse=True))
            self._by_head = by_head  # replaced whole: readers in other threads see either

    def redact(self, text: str) -> str:
        by_head = self._by_head
        if not by_head or len(text) < MIN_SECRET:
            return text
        out: list[str] = []
        start = position = 0
        end = len(text) - MIN_SECRET + 1
        while position < end:
            forms = by_head.get(text[position:position + MIN_SECRET])
            length = _match(text, position, forms) if forms else 0
            if length:
                out += [text[start:position], REDACTED]
                position += length
                start = position
            else:
                position += 1
        if not out:
            return text
        out.append(text[start:])
        return "".join(out)


def _match(text: str, position: int, forms: tuple[str, ...]) -> int:
    """How many characters at ``position`` belong to a secret (0: none): a whole form, or
    at least ``PREFIX_MATCH`` characters of its start."""
    best = 0
    for form in forms:
        if text.startswith(form, position):
            return len(form)
        length = MIN_SECRET
        limit = min(len(form), len(text) - position)
        while length < limit and text[position + length] == form[length]:
            length += 1
        if length >= PREFIX_MATCH:
            best = max(best, length)
    return best


_PROCESS = Redactor()


def remember(secret: str) -> None:
    """Know ``secret`` from now on (called for every value this process decrypts)."""
    _PROCESS.remember(secret)


def redact(text: str) -> str:
    """``text`` with every known secret, in any of its encodings, replaced."""
    return _PROCESS.redact(text)
