"""The committed JSON Schemas are current, and an independent validator accepts the examples."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from hznctl.schema import schema_filename, schema_kinds, write_schemas
from tests.support import EXAMPLE_INVENTORY, venv_bin

REPO = EXAMPLE_INVENTORY.parent
SCHEMAS = REPO / "schemas"
CASES = Path(__file__).parent / "cases"
_SCHEMA_COMMENT = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.MULTILINE)


def _example_files() -> list[Path]:
    files = [EXAMPLE_INVENTORY / "project.yaml"]
    for folder in ("applications", "connections", "hosts", "notifications"):
        files += sorted((EXAMPLE_INVENTORY / folder).glob("*.yaml"))
    files += sorted((CASES / "valid").glob("*/notifications/*.yaml"))
    return files


def _check_jsonschema(schema: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [venv_bin("check-jsonschema"), "--schemafile", str(schema), *map(str, files)],
        capture_output=True, text=True, timeout=120,
    )


def test_committed_schemas_are_current() -> None:
    result = write_schemas(SCHEMAS, check=True)
    assert result.stale == [], "run `hznctl schema` and commit schemas/"


def test_schema_check_command_reports_stale(cli, tmp_path: Path) -> None:
    out = tmp_path / "schemas"
    assert cli("schema", "--out", str(out), "--check").exit_code == 1
    first = cli("schema", "--out", str(out))
    assert first.exit_code == 0 and "wrote" in first.output
    written = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(written) == {schema_filename(spec) for spec in schema_kinds()}
    assert cli("schema", "--out", str(out)).output.endswith("up to date\n")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == written  # deterministic
    assert cli("schema", "--out", str(out), "--check").exit_code == 0


def test_every_example_names_its_schema() -> None:
    for path in _example_files():
        if path.is_relative_to(EXAMPLE_INVENTORY):
            assert _SCHEMA_COMMENT.search(path.read_text()), path


@pytest.mark.parametrize("kind", ["project", "application", "connection", "host"])
def test_check_jsonschema_accepts_the_examples(kind: str) -> None:
    files = [p for p in _example_files() if _schema_of(p) == f"{kind}.schema.json"]
    assert files
    result = _check_jsonschema(SCHEMAS / f"{kind}.schema.json", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_jsonschema_accepts_a_notification() -> None:
    files = sorted((CASES / "valid").glob("*/notifications/*.yaml"))
    assert files
    result = _check_jsonschema(SCHEMAS / "notification.schema.json", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_jsonschema_rejects_what_validate_rejects(tmp_path: Path) -> None:
    bad = tmp_path / "billing.yaml"
    text = (EXAMPLE_INVENTORY / "applications" / "billing.yaml").read_text()
    bad.write_text(text.replace("max_processes: 8", "max_proceses: 8"))
    result = _check_jsonschema(SCHEMAS / "application.schema.json", bad)
    assert result.returncode == 1
    assert "max_proceses" in result.stdout


def _schema_of(path: Path) -> str | None:
    match = _SCHEMA_COMMENT.search(path.read_text())
    return Path(match.group(1)).name if match else None
