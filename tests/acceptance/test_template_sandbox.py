"""Inventory templates are data: they render in Jinja2's ImmutableSandboxedEnvironment
with only a program's values. Reaching Python internals, or a file outside the templates
folder, is a compile error at the template's file:line, and nothing of it is executed.

The sandbox's refusals are Jinja2's own: ``SandboxedEnvironment.is_safe_attribute``
(jinja2/sandbox.py) refuses attributes starting with ``_``, and
``ImmutableSandboxedEnvironment.is_safe_callable`` methods that change a value; hznctl's
loader refuses a template path (``..`` or a link) that leads out of the folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ESCAPES = [
    ('{{ cycler.__init__.__globals__.os.system("touch CANARY") }}', "'__init__'"),
    ('{{ "".__class__.__mro__[1].__subclasses__() }}', "'__class__'"),
    # An unsafe attribute is undefined, and so is every attribute of it.
    ("{{ program.__class__.__init__.__globals__ }}", "'__init__'"),
    ('{{ lipsum.__globals__["os"].system("touch CANARY") }}', "'lipsum' is undefined"),
    ('{{ program.update({"command": "touch CANARY"}) }}', "unsafe"),
    ('{% include "../secrets/redis-main.yaml" %}', "leads out of the templates folder"),
]


@pytest.mark.parametrize(("body", "words"), ESCAPES)
def test_escapes_are_compile_errors_at_the_template_line(example_inventory: Path, cli,
                                                         tmp_path: Path, body: str,
                                                         words: str) -> None:
    canary = tmp_path / "executed"
    templates = example_inventory / "templates"
    templates.mkdir()
    (templates / "rq.conf.j2").write_text(
        "; an override\n[program:{{ group }}]\n" + body.replace("CANARY", str(canary))
        + "\ncommand={{ program.command }}\n")
    out = tmp_path / "bundles"
    result = cli("compile", str(example_inventory), "--out", str(out))
    assert not canary.exists()
    assert result.exit_code == 1, result.output
    assert f"{templates / 'rq.conf.j2'}:3: host worker-batch-1, program " \
        "reports-exports: " in result.output
    assert words in result.output
    assert not out.exists()


def test_a_link_out_of_the_templates_folder_is_not_read(example_inventory: Path, cli,
                                                        tmp_path: Path) -> None:
    outside = tmp_path / "outside.j2"
    outside.write_text("[program:{{ group }}]\ncommand=/bin/true\n")
    (example_inventory / "templates").mkdir()
    (example_inventory / "templates" / "rq.conf.j2").symlink_to(outside)
    result = cli("compile", str(example_inventory), "--out", str(tmp_path / "bundles"))
    assert result.exit_code == 1
    assert "template 'rq.conf.j2' leads out of the templates folder" in result.output


def test_an_override_that_stays_in_bounds_still_compiles(example_inventory: Path, cli,
                                                         tmp_path: Path) -> None:
    builtin = Path(__file__).parents[2] / "templates" / "rq.conf.j2"
    (example_inventory / "templates").mkdir()
    (example_inventory / "templates" / "rq.conf.j2").write_text(
        "; {{ application | upper }} ({{ workers }})\n" + builtin.read_text())
    out = tmp_path / "bundles"
    result = cli("compile", str(example_inventory), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "worker-batch-1/programs/reports-exports.conf").read_text().startswith(
        "; REPORTS (exports)\n")
