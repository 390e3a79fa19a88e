"""One escaping function per output channel: what hznctl prints stays data where it lands.

Inventory values (a pull-request author's words) and a Redis server's or a webhook's
replies (anyone's who controls that host or the network path) reach terminals, GitHub
workflow logs and annotations, pull-request comments and job summaries (Markdown), HTML,
Slack, JUnit XML and Prometheus' text format. Every renderer passes each such value through
its channel's function here, and through nothing else:

* ``terminal`` — text for a terminal or a workflow log;
* ``github_data`` / ``github_property`` — the two parts of a ``::error …::`` annotation;
* ``markdown_code`` — a value in a Markdown code span (pull-request comments, job summaries);
* ``html_text`` — text and attribute values in HTML;
* ``slack_code`` — a value in a Slack mrkdwn code span;
* ``xml_text`` — text and attribute values given to ElementTree (JUnit);
* ``prometheus_label`` / ``prometheus_help`` — label values and HELP text.

All of them first make control characters visible (``visible``): a newline shows as
``\\n``, an escape character as ``\\x1b``, never raw, so no value can start a new line, move
the cursor, colour the terminal, reorder text (bidirectional controls) or hide what follows.
"""

from __future__ import annotations

import functools
import re

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _code(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    point = ord(char)
    if point <= 0xFF:
        return f"\\x{point:02x}"
    if point <= 0xFFFF:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"


def visible(text: str) -> str:
    """``text`` with every character Python would not print as itself (control and
    format characters, line and paragraph separators, surrogates, unassigned code points,
    spaces other than the plain one) written as its escape: ``\\n``, ``\\x1b``, ``\\u202e``."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _code(c) for c in text)


# GitHub's runner takes a line as a workflow command when it starts with "::" after leading
# white space (ActionCommand.TryParseV2), or when "##[" appears anywhere in it (the legacy
# ActionCommand.TryParse, which ActionCommandManager still tries second).
_LEGACY_COMMAND = "##["


def terminal(text: str) -> str:
    """A value for a terminal or a CI log: control characters visible, and nothing that
    GitHub's runner would take for a workflow command wherever the value lands in a line
    (a leading ``:`` is written ``\\x3a``, and ``##[`` as ``#\\x23[``)."""
    shown = visible(text)
    if _LEGACY_COMMAND in shown:
        shown = shown.replace(_LEGACY_COMMAND, "#\\x23[")
    stripped = shown.lstrip()
    if stripped.startswith(":"):  # ":" then the ": " that often follows a value is "::"
        lead = len(shown) - len(stripped)
        shown = shown[:lead] + "\\x3a" + shown[lead + 1:]
    return shown


def github_data(text: str) -> str:
    """The message of a workflow command (after its second ``::``); the runner unescapes
    ``%25``, ``%0D`` and ``%0A`` (ActionCommand.UnescapeData)."""
    return visible(text).replace("%", "%25")


def github_property(text: str) -> str:
    """A property value of a workflow command (``file=``, ``title=``): ``:`` and ``,``
    would end it (ActionCommand.UnescapeProperty)."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


_BACKTICKS = re.compile(r"`+")


def markdown_code(text: str, *, table: bool = False) -> str:
    """``text`` as a CommonMark code span, shown literally: no HTML, comment, link,
    emphasis, mention or emoji inside it renders. ``table=True`` for a cell of a GitHub
    table, where ``|`` ends the cell even inside a code span unless escaped. An empty value
    is the empty string (an empty code span does not exist)."""
    shown = visible(text)
    if not shown:
        return ""
    runs = {len(run) for run in _BACKTICKS.findall(shown)}
    fence = "`" * next(n for n in range(1, len(runs) + 2) if n not in runs)
    # One space on each side is stripped from a code span that starts and ends with one
    # (unless it is all spaces); pad so that the value's own spaces and backticks survive.
    if shown.strip(" ") and (shown[0] in "` " or shown[-1] in "` "):
        shown = f" {shown} "
    if table:
        shown = shown.replace("|", "\\|")
    return f"{fence}{shown}{fence}"


def html_text(text: str) -> str:
    """Text or a quoted attribute value in HTML."""
    shown = visible(text)
    return (shown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#x27;"))


# Slack mrkdwn has three control characters, written as HTML entities
# (https://api.slack.com/reference/surfaces/formatting#escaping); inside a code span
# nothing else is formatted. A code span cannot hold a backtick: it is shown as U+02CB.
SLACK_BACKTICK = "\u02cb"


def slack_code(text: str) -> str:
    """A value in a Slack mrkdwn message, as a code span: no mention (``<!channel>``), link
    (``<url|label>``) or formatting from the value."""
    shown = visible(text).replace("`", SLACK_BACKTICK)
    if not shown:
        return ""
    return "`" + shown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "`"


def xml_text(text: str) -> str:
    """Text or an attribute value for ElementTree, which escapes the markup characters but
    writes every other character as it is, including those XML 1.0 cannot hold."""
    return visible(text)


@functools.lru_cache(maxsize=65536)
def prometheus_label(value: str) -> str:
    """A label value inside its double quotes (text format 0.0.4)."""
    return visible(value).replace("\\", "\\\\").replace('"', '\\"')


def prometheus_help(text: str) -> str:
    """The text of a ``# HELP`` line."""
    return visible(text).replace("\\", "\\\\")
