"""Hostile values in every string field that reaches a program file.

Each value is either rejected by `validate` at the field's place, or compiled into a
bundle that supervisor reads back with the original value, and never with an extra
section or program.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from tests.compile_support import read_program, supervisor_processes, worker_argv
from tests.support import EXAMPLE_INVENTORY

CORPUS = {
    "newline": "a\nb",
    "newline-section": "x\n[program:evil]\ncommand=/bin/sh -c id",
    "cr": "a\rb",
    "u2028": "a\u2028b",
    "u0085": "a\x85b",
    "nul": "a\x00b",
    "percent": "100%",
    "expansion": "%(here)s",
    "semicolon-comment": "a ;b",
    "hash-comment": "a #b",
    "double-quotes": '"quoted"',
    "single-quotes": "'quoted'",
    "bracket": "[program:evil]",
    "long": "v" * 1000,
    "very-long": "v" * 5000,
    "non-ascii": "größe",
    "spaces": " padded ",
    "shell": "$(id);`id`",
}

# Quoting makes these safe inside a command's arguments (and they are ASCII, one line).
RENDERABLE_IN_ARGUMENTS = {"percent", "expansion", "semicolon-comment", "hash-comment",
                           "double-quotes", "single-quotes", "bracket", "long", "shell"}

CUSTOM_APP = {
    "name": "Custom", "slug": "custom", "runtime": "command", "environment": "production",
    "directory": "/srv/custom", "command": "/srv/custom/bin/worker {queues}",
    "connections": [{"connection": "redis-main", "primary": True}],
    "workers": [{"name": "events", "queues": ["events"], "max_processes": 2,
                 "hosts": ["worker-eu-1"]}],
}


def _argv_after(flag):
    def get(argv):
        return argv[argv.index(flag) + 1]
    return get


# field id -> (file, path in the document, how to make the hostile value fit the field,
#              host, program group, how to read the value back from supervisor's config)
FIELDS = {
    "directory": ("applications/mailer.yaml", ("directory",), "/srv/{}", "worker-eu-1",
                  "mailer-mail", lambda cfg, get: get("directory")),
    "user": ("applications/mailer.yaml", ("user",), "{}", "worker-eu-1", "mailer-mail",
             lambda cfg, get: get("user")),
    "executable": ("applications/mailer.yaml", ("executable",), "/opt/{}/php", "worker-eu-1",
                   "mailer-mail", lambda cfg, get: worker_argv(cfg)[0]),
    "queue": ("applications/mailer.yaml", ("workers", 0, "queues", 0), "{}", "worker-eu-1",
              "mailer-mail", lambda cfg, get: worker_argv(cfg)[4].split("=", 1)[1]
              .split(",")[0]),
    "worker-name": ("applications/mailer.yaml", ("workers", 0, "name"), "{}", "worker-eu-1",
                    None, None),
    "app-module": ("applications/reports.yaml", ("app_module",), "{}", "worker-batch-1",
                   "reports-exports", lambda cfg, get: _argv_after("--worker-class")(
                       worker_argv(cfg))),
    "command": ("applications/custom.yaml", ("command",), "/srv/custom/bin/w --tag={}",
                "worker-eu-1", "custom-events", lambda cfg, get: shlex.join(worker_argv(cfg))),
    "hznctl-bin": ("hosts/worker-eu-1.yaml", ("supervisord", "hznctl_bin"), "/usr/{}/hznctl",
                   "worker-eu-1", "mailer-mail", lambda cfg, get: shlex.split(cfg.command)[0]),
    "state-dir": ("hosts/worker-eu-1.yaml", ("supervisord", "state_dir"), "/var/{}",
                  "worker-eu-1", "mailer-mail",
                  lambda cfg, get: shlex.split(cfg.command)[3].removesuffix(
                      "/current/exec/mailer-mail.json")),
    "log-dir": ("hosts/worker-eu-1.yaml", ("supervisord", "log_dir"), "/var/log/{}",
                "worker-eu-1", "mailer-mail",
                lambda cfg, get: get("stdout_logfile").removesuffix("/mailer-mail_00.out.log")),
}


def _set(data, path, value):
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
    node[path[-1]] = value


def _make_inventory(dest: Path, values: dict[str, str]) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(EXAMPLE_INVENTORY, dest)
    (dest / "applications" / "custom.yaml").write_text(yaml.safe_dump(CUSTOM_APP))
    for field_id, value in values.items():
        file, path, *_ = FIELDS[field_id]
        doc = dest / file
        data = yaml.safe_load(doc.read_text())
        _set(data, path, value)
        doc.write_text(yaml.safe_dump(data, allow_unicode=False, width=10**6))
    return dest


def _field_path(path):
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _expected(field_id: str, value: str) -> str:
    if field_id == "command":  # the command's words as the inventory's shell syntax says
        return shlex.join(shlex.split(value))
    return value


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_value_is_rejected_in_place_or_read_back_exactly(name, tmp_path):
    from hznctl.pipeline import compile_inventory
    from hznctl.validate import validate_inventory

    raw = CORPUS[name]
    values = {f: FIELDS[f][2].format(raw) for f in FIELDS}
    # The value goes into every field at once; each error must point at one of them. A file
    # with a field error is not checked further, so repeat with the fields still accepted
    # until the inventory is valid; then it must compile and read the values back.
    accepted = dict(values)
    for attempt in range(len(FIELDS) + 1):
        inventory = _make_inventory(tmp_path / f"try{attempt}", accepted)
        errors = [d for d in validate_inventory(inventory).diagnostics if d.is_error]
        if not errors:
            break
        for diag in errors:
            owners = [f for f, spec in FIELDS.items()
                      if diag.file.endswith(spec[0]) and diag.path == _field_path(spec[1])]
            assert owners, f"{name}: an error not placed at a hostile field: {diag.text()}"
            for owner in owners:
                accepted.pop(owner, None)
    if name in RENDERABLE_IN_ARGUMENTS:
        assert {"executable", "command", "hznctl-bin"} <= set(accepted)
    compiled = compile_inventory(inventory, revision=None)
    assert compiled.ok, [d.text() for d in compiled.diagnostics]
    for field_id in accepted:
        _, _, _, host, group, read = FIELDS[field_id]
        assert read is not None, f"{field_id} accepted {name!r} but has no program to check"
        _check_read_back(tmp_path, compiled.bundles[host], group, field_id, values[field_id],
                         read)


def _check_read_back(tmp_path, bundle, group, field_id, value, read):
    program = tmp_path / f"{group}.conf"
    program.write_bytes(bundle.files[f"programs/{group}.conf"])
    sections, parser = read_program(program)
    assert sections == [f"program:{group}"]
    all_sections = set()
    for rel, data in bundle.files.items():
        if rel.startswith("programs/"):
            path = tmp_path / Path(rel).name
            path.write_bytes(data)
            all_sections.update(read_program(path)[0])
    assert all_sections == {f"program:{g}" for g in bundle.manifest.groups}
    section = f"program:{group}"

    def get(option):
        return parser.saneget(section, option, expansions={
            "process_num": 0, "program_name": group, "group_name": group})

    direct = {o: get(o) for o in ("directory", "user", "stdout_logfile")}
    configs = supervisor_processes(parser, section)
    assert len(configs) == bundle.manifest.groups[group].processes
    got = read(configs[0], direct.__getitem__)
    assert got == _expected(field_id, value)
