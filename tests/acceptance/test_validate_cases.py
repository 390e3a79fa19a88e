"""Data-driven validate tests: every folder under cases/ is one inventory (laid over cases/base).

Invalid cases list the exact diagnostics in ``expected.txt`` (as `hznctl validate` prints
them); valid cases must validate without a single diagnostic, even under --strict. Adding a
case is adding a folder; see ``casekit`` for the folder format.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from hznctl.diagnostics import render_text
from hznctl.validate import validate_inventory
from tests.acceptance.casekit import CASES, build_case, expected_lines

INVALID = sorted(p.name for p in (CASES / "invalid").iterdir() if p.is_dir())
VALID = sorted(p.name for p in (CASES / "valid").iterdir() if p.is_dir())


@pytest.fixture
def case_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def build(group: str, name: str) -> Path:
        dest = build_case(CASES / group / name, tmp_path / "inventory")
        monkeypatch.chdir(dest)  # diagnostics then name files as the case does
        return dest

    return build


def test_there_are_enough_cases():
    assert len(INVALID) >= 40
    assert len(VALID) >= 8


@pytest.mark.parametrize("name", INVALID)
def test_invalid_case(name: str, case_dir) -> None:
    case_dir("invalid", name)
    result = validate_inventory(Path("."))
    assert render_text(result.diagnostics).splitlines() == expected_lines(CASES / "invalid" / name)
    assert not result.ok(strict=True)


@pytest.mark.parametrize("name", VALID)
def test_valid_case(name: str, case_dir) -> None:
    case_dir("valid", name)
    result = validate_inventory(Path("."))
    assert render_text(result.diagnostics) == ""
    assert result.ok(strict=True)


def test_billion_laughs_is_rejected_quickly(case_dir) -> None:
    case_dir("invalid", "yaml-billion-laughs")
    # CPU time: the machine running the suite is shared, wall time says little here.
    started = time.process_time()
    validate_inventory(Path("."))
    assert time.process_time() - started < 0.5


def test_literal_password_is_never_echoed(cli, case_dir) -> None:
    case_dir("invalid", "literal-password")
    for output_format in ("text", "json", "github"):
        result = cli("validate", ".", "--format", output_format)
        assert result.exit_code == 1
        assert "hunter2" not in result.output


def test_cli_text_output_and_exit_code(cli, case_dir) -> None:
    case_dir("invalid", "two-primaries")
    result = cli("validate", ".")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == expected_lines(CASES / "invalid" / "two-primaries")[0]
    assert lines[-1].startswith("invalid: 1 error(s), 0 warning(s) in 5 file(s)")


def test_cli_json_output(cli, case_dir) -> None:
    case_dir("invalid", "min-above-max")
    result = cli("validate", ".", "--format", "json")
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert payload["valid"] is False and payload["errors"] == 1 and payload["warnings"] == 0
    [finding] = payload["diagnostics"]
    assert finding["file"] == "applications/shop.yaml"
    assert (finding["line"], finding["col"]) == (13, 20)
    assert finding["path"] == "workers[0].min_processes"
    assert finding["code"] == "worker-limits"


def test_cli_github_annotations(cli, case_dir) -> None:
    case_dir("invalid", "worker-on-no-host")
    result = cli("validate", ".", "--format", "github")
    assert result.exit_code == 0  # warnings only
    annotations = [line for line in result.output.splitlines() if line.startswith("::")]
    assert annotations[0].startswith(
        "::warning file=applications/shop.yaml,line=13,col=11,title=workers[1].name::"
    )
    assert len(annotations) == 2


def test_strict_fails_on_warnings(cli, case_dir) -> None:
    case_dir("invalid", "host-without-workers")
    assert cli("validate", ".").exit_code == 0
    strict = cli("validate", ".", "--strict")
    assert strict.exit_code == 1
    assert "(--strict: warnings fail)" in strict.output


def test_quiet_prints_nothing_when_valid(cli, case_dir) -> None:
    case_dir("valid", "base-only")
    result = cli("validate", ".", "--quiet")
    assert result.exit_code == 0 and result.output == ""


def test_missing_inventory_is_a_usage_error(cli, tmp_path: Path) -> None:
    result = cli("validate", str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_unknown_format_is_a_usage_error(cli, case_dir) -> None:
    case_dir("valid", "base-only")
    assert cli("validate", ".", "--format", "xml").exit_code == 2


def test_internal_error_exits_3_without_traceback(cli, case_dir, monkeypatch) -> None:
    import hznctl.cli.validate as command

    def explode(root: Path) -> None:
        raise RuntimeError("secret-value-that-must-not-show")

    case_dir("valid", "base-only")
    monkeypatch.setattr(command, "validate_inventory", explode)
    result = cli("validate", ".")
    assert result.exit_code == 3
    assert "internal error: RuntimeError" in result.output
    assert "Traceback" not in result.output
    assert "secret-value-that-must-not-show" not in result.output
