"""A compile builds each distinct program once and shares it between hosts.

Sharing must never change a byte: a program depends on its host through the host's
supervisord settings and the worker argv its runtime makes for the host (celery's
``--hostname``), and a Horizon file names its host. Hosts that differ in any of these get
their own program; hosts that do not get the very same one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hznctl.bundle.jsonout import dump_json
from hznctl.compile.compiler import SecretFiles
from hznctl.compile.programs import (
    HostCompiler,
    HostProgram,
    ProgramBuilder,
    group_name,
    horizon_supervisor,
)
from hznctl.inventory import Inventory
from hznctl.pipeline import build_bundles
from hznctl.placement import groups_by_host
from hznctl.targets.supervisord.ini import display_command
from hznctl.targets.supervisord.options import section
from hznctl.validate import validate_inventory

GOLDEN = Path(__file__).parents[1] / "golden" / "runtimes" / "inventory"
OTHER_SUPERVISORD = """\
supervisord:
  state_dir: /opt/hznctl/state
  log_dir: /opt/hznctl/log
  hznctl_bin: /opt/hznctl/bin/hznctl
  age_key_file: /opt/hznctl/age.key
"""


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    """The golden inventory plus worker-eu-3 (worker-eu-2 with other supervisord settings)
    and worker-batch-2 (worker-batch-1 under another name: celery names the host)."""
    root = tmp_path_factory.mktemp("sharing") / "inventory"
    shutil.copytree(GOLDEN, root)
    hosts = root / "hosts"
    eu2 = (hosts / "worker-eu-2.yaml").read_text()
    (hosts / "worker-eu-3.yaml").write_text(eu2.replace("worker-eu-2", "worker-eu-3")
                                            + OTHER_SUPERVISORD)
    batch1 = (hosts / "worker-batch-1.yaml").read_text()
    (hosts / "worker-batch-2.yaml").write_text(batch1.replace("worker-batch-1",
                                                              "worker-batch-2"))
    result = validate_inventory(root)
    assert result.ok(), [d.text() for d in result.diagnostics]
    return result.inventory


def _programs(inventory: Inventory) -> dict[str, dict[str, HostProgram]]:
    """Each host's programs by group, all built by one shared builder."""
    placed = groups_by_host(inventory)
    builder = ProgramBuilder(inventory, SecretFiles(inventory.root).hash)
    return {host: {p.program.group: p for p in
                   HostCompiler(inventory.hosts[host], builder).programs(placed[host])}
            for host in placed}


def test_bundles_compiled_together_equal_bundles_compiled_one_host_at_a_time(
        inventory: Inventory) -> None:
    together = build_bundles(inventory)
    assert set(together) == {"worker-eu-1", "worker-eu-2", "worker-eu-3", "worker-batch-1",
                             "worker-batch-2", "worker-staging-1"}
    for host, bundle in together.items():
        alone = build_bundles(inventory, hosts=[host])[host]
        assert bundle.all_files() == alone.all_files(), host


def test_identical_hosts_share_one_program(inventory: Inventory) -> None:
    programs = _programs(inventory)
    eu1, eu2 = programs["worker-eu-1"]["billing-horizon"], programs["worker-eu-2"][
        "billing-horizon"]
    assert eu1.program is eu2.program
    # The Horizon file names its host: each host has its own.
    assert b'"host": "worker-eu-1"' in eu1.files["horizon/billing.json"]
    assert b'"host": "worker-eu-2"' in eu2.files["horizon/billing.json"]


def test_other_supervisord_settings_get_their_own_program(inventory: Inventory) -> None:
    programs = _programs(inventory)
    eu2, eu3 = (programs[h]["billing-horizon"].program for h in ("worker-eu-2", "worker-eu-3"))
    assert eu2 is not eu3
    assert eu3.argv[:4] == ["/opt/hznctl/bin/hznctl", "exec", "--spec",
                            "/opt/hznctl/state/current/exec/billing-horizon.json"]
    assert section(eu3).options["stdout_logfile"][0] == "/opt/hznctl/log/billing-horizon_"
    assert b"/opt/hznctl/age.key" in eu3.exec_json
    assert b"/opt/hznctl/state/current/secrets/redis-main.yaml" in eu3.exec_json
    assert b"/opt/hznctl" not in eu2.exec_json


def test_a_worker_argv_naming_the_host_gets_its_own_program(inventory: Inventory) -> None:
    programs = _programs(inventory)
    for host in ("worker-batch-1", "worker-batch-2"):
        program = programs[host]["search-indexer-indexing"].program
        assert f"--hostname=search-indexer-indexing@{host}" in program.argv
    assert (programs["worker-batch-1"]["search-indexer-indexing"].program
            is not programs["worker-batch-2"]["search-indexer-indexing"].program)


def test_parts_made_once_assemble_into_the_whole(inventory: Inventory) -> None:
    """Exec specs and Horizon files are assembled from parts made once: the same bytes as
    ``dump_json`` of the whole; a command line is its arguments each shown once."""
    for host, programs in _programs(inventory).items():
        for placed in programs.values():
            program = placed.program
            data = program.exec_spec.model_dump(mode="json")
            if data["recycle"] is None:  # written only when set
                del data["recycle"]
            assert program.exec_json == dump_json(data)
            assert section(program).settings()["command"] == display_command(program.argv)
            for path, data in placed.files.items():
                app = program.application
                expected = {"application": app.slug, "environment": app.environment,
                            "host": host,
                            "supervisors": {group_name(app, w): horizon_supervisor(app, w)
                                            for w in program.workers}}
                assert data == dump_json(expected), path


def test_the_cycle_collector_is_back_as_it_was_after_a_compile(inventory: Inventory) -> None:
    import gc

    from hznctl.errors import UsageError

    assert gc.isenabled()
    build_bundles(inventory, hosts=["worker-eu-1"])
    assert gc.isenabled()
    with pytest.raises(UsageError):
        build_bundles(inventory, hosts=["no-such-host"])
    assert gc.isenabled()
    gc.disable()
    try:
        build_bundles(inventory, hosts=["worker-eu-1"])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_templates_read_program_values_as_attributes_and_as_items(
        inventory: Inventory, tmp_path: Path) -> None:
    import jinja2

    from hznctl.targets.supervisord.render import make_environment, render_program

    (tmp_path / "templates").mkdir()
    template = tmp_path / "templates" / "laravel-horizon.conf.j2"
    template.write_text("{{ program.user }} {{ program['user'] }} {{ program.get('user') }} "
                        "{{ program.items() | list | length }} {{ 'command' in program }}\n")
    program = _programs(inventory)["worker-eu-1"]["billing-horizon"].program
    env = make_environment(tmp_path)
    assert render_program(section(program), env) == (
        f"www-data www-data www-data {len(section(program).options)} true\n")
    template.write_text("{{ program.no_such_option }}\n")
    with pytest.raises(jinja2.UndefinedError):
        render_program(section(program), make_environment(tmp_path))
