"""Inventory content stays data in every output: no workflow command, no terminal control,
no Markdown markup, no blocked read, whatever a pull request puts into a file."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from markdown_it import MarkdownIt

from tests.compile_support import compile_to


def _add_top_level_key(path: Path, key: str) -> None:
    path.write_text(path.read_text() + f'"{key}": 1\n')


def test_validate_text_and_github_output_make_no_workflow_command(cli, example_inventory):
    """A key holding a newline, "::warning::" and an escape character (YAML's "\\e")."""
    _add_top_level_key(example_inventory / "applications" / "reports.yaml",
                       "x\\n::warning::pwned\\e[2J##[error]y")
    text = cli("validate", str(example_inventory))
    assert text.exit_code == 1
    assert "pwned" in text.output  # the key is shown …
    for line in text.output.splitlines():  # … as data
        assert not line.lstrip().startswith("::"), line
        assert "##[" not in line and "\x1b" not in line
    github = cli("validate", str(example_inventory), "--format", "github")
    lines = github.stdout.splitlines()
    assert lines and all(line.startswith(("::error ", "::warning ")) for line in lines)
    assert "\x1b" not in github.output


def test_plan_markdown_shows_a_hostile_value_as_code(cli, example_inventory, tmp_path):
    compile_to(example_inventory, tmp_path / "old")
    app = example_inventory / "applications" / "reports.yaml"
    app.write_text(app.read_text().replace(
        "executable: /srv/reports/.venv/bin/rq",
        'executable: "/srv/reports/<!-- hide the rest -->[x](http://e)**b**/rq"'))
    compile_to(example_inventory, tmp_path / "new")
    markdown = cli("plan", str(tmp_path / "old"), str(tmp_path / "new"), "--format",
                   "markdown").output
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    inline = [child for t in tokens if t.type == "inline" for child in t.children or []]
    kinds = {t.type for t in tokens} | {c.type for c in inline}
    assert not {k for k in kinds if k.startswith(("html", "link", "em"))}, kinds
    strong = [inline[i + 1].content for i, c in enumerate(inline) if c.type == "strong_open"]
    assert set(strong) <= {"added", "changed", "removed"}  # only the plan's own emphasis
    codes = [c.content for c in inline if c.type == "code_inline"]
    assert "/srv/reports/<!-- hide the rest -->[x](http://e)**b**/rq" in codes


def test_a_fifo_in_the_inventory_is_an_error_at_its_path_at_once(cli, example_inventory):
    fifo = example_inventory / "applications" / "pipe.yaml"
    os.mkfifo(fifo)
    finished = threading.Event()
    outcome: dict[str, object] = {}

    def run() -> None:
        outcome["result"] = cli("validate", str(example_inventory))
        finished.set()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    if not finished.wait(30):  # never blocks on the pipe: release it if it did
        with open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "wb"):
            pass
        worker.join(10)
        raise AssertionError("validate blocked on a FIFO")
    result = outcome["result"]
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "pipe.yaml:1:1: cannot read file: it is a FIFO (named pipe), not a regular " \
           "file" in result.output  # type: ignore[attr-defined]
