"""The one home of what a command prints: its ``--format`` option, the renderer of each kind
of result in each format, the writing of the text, and the exit code.

A command declares the kind of result it shows (``@format_option("plan")``); the option's
choices are the formats ``RENDERERS`` has for that kind, in its order, and the default is
``text``. The command computes its result and ends with ``return show(kind, fmt, value,
ok=...)``: the renderer makes the text, ``show`` writes it and turns the verdict into the
exit code. Adding a format to a kind is one entry here and its render function; every
command showing that kind offers it (`tests/unit/test_cli_output.py` holds each
``--format`` to this module).

Escaping belongs to the renderers, value by value, each through its channel's function in
``hznctl.escape`` (text: ``terminal``; github: ``github_data``/``github_property``;
markdown: ``markdown_code``; JSON needs none): a whole rendered text cannot be escaped
afterwards without breaking its own lines. Colour is added only when ``colour()`` says
stdout is a terminal (click also strips it from anything else).

Renderers are named as ``module:function`` and imported when used, so a command pays only
for the kinds it shows.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from hznctl.errors import EXIT_FINDINGS, EXIT_OK

F = TypeVar("F", bound=Callable[..., Any])

# kind of result → format → "module:function" of the renderer (a value → str or Printed)
RENDERERS: dict[str, dict[str, str]] = {
    "validation": {"text": "hznctl.cli.validate:render_text",
                   "json": "hznctl.cli.validate:render_json",
                   "github": "hznctl.cli.validate:render_github"},
    "compile": {"text": "hznctl.cli.compile:render_text",
                "json": "hznctl.cli.compile:render_json",
                "github": "hznctl.cli.compile:render_text"},
    "invalid-compile": {"text": "hznctl.cli.output:diagnostics_text_on_stderr",
                        "json": "hznctl.cli.output:diagnostics_json",
                        "github": "hznctl.cli.output:diagnostics_github_on_stderr"},
    "plan": {"text": "hznctl.plan.render:render_text",
             "json": "hznctl.plan.render:render_json",
             "markdown": "hznctl.plan.render:render_markdown"},
    "deploy-record": {"text": "hznctl.cli.deploy:render_text",
                      "json": "hznctl.cli.output:as_dict_json"},
    "host-status": {"text": "hznctl.cli.status:render_text",
                    "json": "hznctl.cli.output:as_dict_json"},
    "health": {"text": "hznctl.cli.health:render_text",
               "json": "hznctl.cli.health:render_json"},
    "policy-check": {"text": "hznctl.cli.policy:render_text",
                     "json": "hznctl.cli.output:as_dict_json",
                     "github": "hznctl.cli.policy:render_github"},
    "changelog": {"text": "hznctl.policy.logformat:render_text",
                  "json": "hznctl.policy.logformat:render_json",
                  "markdown": "hznctl.policy.logformat:render_markdown"},
    "secrets-sync": {"text": "hznctl.cli.secrets:render_sync_text",
                     "json": "hznctl.cli.secrets:render_sync_json"},
    "secrets-status": {"text": "hznctl.cli.secrets:render_status_text",
                       "json": "hznctl.cli.secrets:render_status_json"},
    "import": {"text": "hznctl.cli.importer:render_text",
               "json": "hznctl.cli.importer:render_json"},
}
DEFAULT_FORMAT = "text"


class FormatOption(click.Option):
    """``--format``, made only by ``format_option``: a test finds every command's by this."""

    def __init__(self, *args: Any, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind


def format_option(kind: str) -> Callable[[F], F]:
    """The ``--format`` option of a command that shows results of ``kind``."""
    return click.option(
        "--format", "output_format", cls=FormatOption, kind=kind,
        type=click.Choice(list(RENDERERS[kind])), default=DEFAULT_FORMAT, show_default=True,
        help="Output format.")


def human(output_format: str) -> bool:
    """Whether the output is read by a person (progress bars may go to the terminal)."""
    return output_format == DEFAULT_FORMAT


class Printed:
    """Text for stdout and stderr in the order it is written (for a renderer that says
    more than its result: a verdict for people on stderr, beside annotations on stdout)."""

    def __init__(self) -> None:
        self.parts: list[tuple[str, bool]] = []

    def out(self, text: str) -> Printed:
        self.parts.append((text, False))
        return self

    def err(self, text: str) -> Printed:
        self.parts.append((text, True))
        return self


def renderer(kind: str, output_format: str) -> Callable[[Any], str | Printed]:
    module, _, name = RENDERERS[kind][output_format].partition(":")
    function: Callable[[Any], str | Printed] = getattr(importlib.import_module(module), name)
    return function


def write(text: str | Printed) -> None:
    """Rendered text to stdout (a Printed: each part to its stream, in order)."""
    parts = text.parts if isinstance(text, Printed) else [(text, False)]
    for part, err in parts:
        click.echo(part, nl=False, err=err)


def verdict(ok: bool) -> int:
    """The exit code of a command that checks something: 0 ok, 1 findings."""
    return EXIT_OK if ok else EXIT_FINDINGS


def show(kind: str, output_format: str, value: Any, *, ok: bool = True) -> int:
    """Render ``value`` as ``output_format``, write it, and return the exit code of ``ok``."""
    write(renderer(kind, output_format)(value))
    return verdict(ok)


# Renderers shared by several kinds.

def as_dict_json(value: Any) -> str:
    """A result's ``as_dict()`` as indented JSON with sorted keys."""
    return json.dumps(value.as_dict(), indent=2, sort_keys=True) + "\n"


def diagnostics_text_on_stderr(findings: Any) -> Printed:
    """An invalid inventory for people: its diagnostics, then what was not done
    (``findings``: (diagnostics, sentence)), all on stderr."""
    from hznctl.diagnostics import render_text

    diagnostics, sentence = findings
    return Printed().err(render_text(diagnostics)).err(sentence + "\n")


def diagnostics_github_on_stderr(findings: Any) -> Printed:
    from hznctl.diagnostics import render_github

    diagnostics, sentence = findings
    return Printed().err(render_github(diagnostics)).err(sentence + "\n")


def diagnostics_json(findings: Any) -> str:
    from hznctl.diagnostics import render_json

    diagnostics, _ = findings
    return render_json(diagnostics, valid=False)


def diagnostics_to_stderr(diagnostics: Sequence[Any], sentence: str | None = None) -> None:
    """The diagnostics of an inventory that could not be used, as text on stderr, whatever
    the format (stdout keeps nothing but the command's own format)."""
    from hznctl.diagnostics import render_text

    printed = Printed().err(render_text(diagnostics))
    write(printed.err(sentence + "\n") if sentence else printed)
