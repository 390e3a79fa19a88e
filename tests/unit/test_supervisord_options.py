"""supervisord's option table is the one list of options: files, read-back and live checks.

A row added to the table reaches the program file (in the table's place), is read back
with supervisor's own code, and lands in the manifest's settings — with no template or
other table to change.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hznctl.compile.compiler import SecretFiles
from hznctl.compile.programs import HostCompiler, ProgramBuilder
from hznctl.placement import groups_by_host
from hznctl.targets import TARGET_MODULES, target
from hznctl.targets.supervisord import options
from hznctl.targets.supervisord.render import make_environment, render_program
from hznctl.targets.supervisord.verify import Verifier, VerifyError
from hznctl.validate import validate_inventory

GOLDEN = Path(__file__).parents[1] / "golden" / "runtimes"


def _keys(text: str) -> list[str]:
    return [line.partition("=")[0] for line in text.splitlines()
            if line and line[0] not in ";[" and "=" in line]


def test_golden_program_files_list_the_written_options_in_the_tables_order():
    files = sorted((GOLDEN / "expected").glob("*/programs/*.conf"))
    assert files
    names = [o.name for o in options.WRITTEN]
    for path in files:
        keys = _keys(path.read_text())
        assert keys == [n for n in names if n in keys], path
        assert set(names) - set(keys) <= {"umask", "numprocs_start"}, path  # only when set


@pytest.fixture(scope="module")
def programs():
    result = validate_inventory(GOLDEN / "inventory")
    assert result.ok()
    inventory = result.inventory
    builder = ProgramBuilder(inventory, SecretFiles(inventory.root).hash)
    found = {}
    for host, placed in groups_by_host(inventory).items():
        for item in HostCompiler(inventory.hosts[host], builder).programs(placed):
            found[item.program.group] = item.program
    return [found[g] for g in sorted(found)]


def test_a_new_row_is_written_read_back_and_listed(programs, monkeypatch):
    row = options.Option("umask", lambda p: "022", "umask", lambda v: int(v, 8))
    at = [o.name for o in options.WRITTEN].index("priority")
    monkeypatch.setattr(options, "WRITTEN",
                        (*options.WRITTEN[:at], row, *options.WRITTEN[at:]))
    env = make_environment(None)
    verifier = Verifier()
    for program in programs:
        section = options.section(program)
        text = render_program(section, env)
        assert "\numask=022\npriority=999\n" in text
        verifier.verify(text, section)  # supervisor reads it as the table says
        assert section.settings()["umask"] == "022"
        with pytest.raises(VerifyError):
            verifier.verify(text.replace("umask=022", "umask=002"),
                            dataclasses.replace(section))


def test_the_live_comparison_reads_the_table():
    assert {o.name: (o.live, o.convert) for o in options.OPTIONS
                            if o.live is not None} == options.LIVE
    assert options.LIVE["user"][0] == "uid" and options.LIVE["priority"][0] == "process_prio"
    assert options.LIVE["stopsignal"][1]("TERM") == 15


def test_targets_are_found_by_name():
    assert set(TARGET_MODULES) == {"supervisord", "kubernetes"}
    supervisord = target("supervisord")
    assert supervisord.name == "supervisord"
    assert supervisord.program_file("billing-default") == "programs/billing-default.conf"
    assert supervisord.live is options.LIVE
    with pytest.raises(KeyError):
        target("no-such-target")


def test_the_kubernetes_target_is_found_by_name():
    kubernetes = target("kubernetes")
    assert kubernetes.name == "kubernetes"
    assert kubernetes.program_file("billing-default") == "deployments/billing-default.yaml"
    assert kubernetes.live == {}
