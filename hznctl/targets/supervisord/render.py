"""Rendering programs through the runtime templates; every printed value is INI-checked.

Templates come from the inventory's own ``templates/`` folder when it has one for the
runtime, else from the ones shipped with hznctl. The environment's ``finalize`` passes
every ``{{ value }}`` through ``ini_value`` (values already checked are ``IniText``), so a
template, even an inventory's own, cannot print an unchecked value.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from hznctl import __version__
from hznctl.targets.supervisord.ini import IniText, command_value, ini_value
from hznctl.targets.supervisord.options import Section

GENERATOR = f"hznctl {__version__}"


def builtin_templates() -> Path:
    return Path(str(resources.files("hznctl") / "templates"))


def _finalize(value: Any) -> IniText:
    if isinstance(value, IniText):
        return value
    if isinstance(value, bool):
        return IniText("true" if value else "false")
    if isinstance(value, int):
        return IniText(str(value))
    if isinstance(value, str):
        return ini_value(value)
    if isinstance(value, jinja2.Undefined):
        str(value)  # a StrictUndefined raises: the template names a value that is not there
    raise TypeError(f"a template printed a {type(value).__name__}, not text")


def make_environment(inventory_root: Path | None) -> jinja2.Environment:
    """One per compile: each template is loaded and compiled once for all programs."""
    paths = [str(builtin_templates())]
    if inventory_root is not None and (inventory_root / "templates").is_dir():
        paths.insert(0, str(inventory_root / "templates"))
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(paths),
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        autoescape=False,
        keep_trailing_newline=True,
        auto_reload=False,
    )


class _Values(dict[str, IniText]):
    """A program's values, also as attributes: Jinja looks ``program.command`` up as an
    attribute first, and on a plain dict each such lookup fails before the item is found."""

    def __init__(self, values: dict[str, IniText]) -> None:
        super().__init__(values)
        self.__dict__.update(values)  # a copy: ``self.__dict__ = self`` would be a cycle


def template_values(section: Section) -> dict[str, IniText]:
    """The section's options in the table's order, each as written on its line."""
    values = {k: command_value(section.argv) if k == "command" else ini_value(v)
              for k, v in section.options.items()}
    return _Values(values)


# The base template says what the stop signal does just before its line.
_STOP = "stopsignal"


def _option_lines(values: dict[str, IniText]) -> tuple[IniText, IniText]:
    """The section's option lines in the table's order, cut before the stop signal's: one
    join in Python, not a loop in the template, for every program of a compile."""
    lines = [f"{name}={value}" for name, value in values.items()]
    cut = list(values).index(_STOP) if _STOP in values else len(lines)
    return IniText("".join(line + "\n" for line in lines[:cut])), IniText("\n".join(lines[cut:]))


def render_program(section: Section, env: jinja2.Environment) -> str:
    # No hznctl version in program files: upgrading hznctl must not restart every worker.
    program = section.program
    template = env.get_template(program.runtime.template)
    values = template_values(section)
    before, after = _option_lines(values)
    return template.render(
        group=program.group,
        application=program.application.slug,
        worker=program.worker.name if program.worker else "",
        workers=",".join(w.name for w in program.workers),
        runtime=program.runtime.runtime.value,
        program=values,
        options_before_stop=before,
        options_from_stop=after,
    )
