"""`plan --base` compiles only the hosts whose inputs changed, and says exactly what
compiling every host of both revisions says: random edits to the base revision and to the
working tree of an inventory, then the incremental plan against the full one, in every
format, notes and findings included."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.generate import generate_inventory, sizes
from hznctl.pipeline import plan_against_revision, plan_fully
from hznctl.plan.render import RENDERERS
from tests.support import DEMO_KEYS, EXAMPLE_INVENTORY, REPO, sops_encrypt, venv_bin

_APPS = sorted(p.stem for p in (EXAMPLE_INVENTORY / "applications").glob("*.yaml"))
_CONNECTIONS = sorted(p.stem for p in (EXAMPLE_INVENTORY / "connections").glob("*.yaml"))
_HOSTS = sorted(p.stem for p in (EXAMPLE_INVENTORY / "hosts").glob("*.yaml"))
_RUNTIMES = ["rq", "celery", "command", "laravel-queue", "laravel-horizon"]

_edit = st.one_of(
    st.tuples(st.just("queues"), st.integers(0, 99), st.integers(0, 9),
              st.sampled_from(["extra", "mail", "default"])),
    st.tuples(st.just("port"), st.integers(0, 99), st.integers(6000, 6999)),
    st.tuples(st.just("template"), st.sampled_from(_RUNTIMES), st.integers(0, 3)),
    st.tuples(st.just("host-log-dir"), st.integers(0, 99), st.integers(0, 3)),
    st.tuples(st.just("host-label"), st.integers(0, 99), st.sampled_from(["a", "b"])),
    st.tuples(st.just("project-defaults"), st.sampled_from(["tries", "timeout", "sleep"]),
              st.integers(1, 400)),
    st.tuples(st.just("project-host-default"), st.integers(0, 3)),
    st.tuples(st.just("rotate"), st.integers(0, 99), st.integers(0, 3)),
    st.tuples(st.just("rekey"), st.integers(0, 99)),
    # A worker group moved to one named host, or removed: the hosts it leaves change too.
    st.tuples(st.just("move"), st.integers(0, 99), st.integers(0, 9), st.integers(0, 99)),
    st.tuples(st.just("drop-group"), st.integers(0, 99), st.integers(0, 9)),
)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", *args], cwd=repo,
                   check=True, capture_output=True)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _dump(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@functools.cache
def _password(connection: str) -> str:
    out = subprocess.run([venv_bin("sops"), "--disable-version-check", "decrypt",
                          "--extract", '["password"]',
                          str(EXAMPLE_INVENTORY / "secrets" / f"{connection}.yaml")],
                         check=True, capture_output=True, text=True,
                         env={**os.environ,
                              "SOPS_AGE_KEY_FILE": str(DEMO_KEYS / "health-runner.agekey")})
    return out.stdout


def _recipients(path: Path) -> list[str]:
    return [r["recipient"] for r in _load(path)["sops"]["age"]]


def _add_queue(path: Path, edit: tuple[Any, ...]) -> None:
    """Edit ("queues", app, worker, queue): one more queue for a worker group."""
    app = _load(path)
    worker = app["workers"][edit[2] % len(app["workers"])]
    if "queues" in worker:
        worker["queues"] = [*worker["queues"], edit[3]]
    _dump(path, app)


def _set_port(path: Path, edit: tuple[Any, ...]) -> None:
    """Edit ("port", connection, port)."""
    _dump(path, {**_load(path), "port": edit[2]})


def _move_group(path: Path, edit: tuple[Any, ...], hosts: list[str]) -> None:
    """Edit ("move", app, worker, host) or ("drop-group", app, worker)."""
    app = _load(path)
    index = edit[2] % len(app["workers"])
    if edit[0] == "drop-group":
        if len(app["workers"]) > 1:
            del app["workers"][index]
    else:
        worker = app["workers"][index]
        worker.pop("host_labels", None)
        worker["hosts"] = [hosts[edit[3] % len(hosts)]]
    _dump(path, app)


def _apply(root: Path, edit: tuple[Any, ...]) -> None:
    kind = edit[0]
    if kind in ("move", "drop-group"):
        _move_group(root / "applications" / f"{_APPS[edit[1] % len(_APPS)]}.yaml", edit,
                    _HOSTS)
    elif kind == "queues":
        _add_queue(root / "applications" / f"{_APPS[edit[1] % len(_APPS)]}.yaml", edit)
    elif kind == "port":
        _set_port(root / "connections" / f"{_CONNECTIONS[edit[1] % len(_CONNECTIONS)]}.yaml",
                  edit)
    elif kind == "template":
        text = (REPO / "templates" / f"{edit[1]}.conf.j2").read_text()
        text = text.replace("{% block about %}", f"{{% block about %}}(edit {edit[2]}) ")
        (root / "templates").mkdir(exist_ok=True)
        (root / "templates" / f"{edit[1]}.conf.j2").write_text(text)
    elif kind in ("host-log-dir", "host-label"):
        path = root / "hosts" / f"{_HOSTS[edit[1] % len(_HOSTS)]}.yaml"
        host = _load(path)
        if kind == "host-log-dir":
            host.setdefault("supervisord", {})["log_dir"] = f"/var/log/hznctl-{edit[2]}"
        else:
            host.setdefault("labels", {})["pool"] = edit[2]
        _dump(path, host)
    elif kind == "project-defaults":
        path = root / "project.yaml"
        project = _load(path)
        project["defaults"]["worker"][edit[1]] = edit[2]
        _dump(path, project)
    elif kind == "project-host-default":
        path = root / "project.yaml"
        project = _load(path)
        project["defaults"]["host"]["supervisord"]["hznctl_bin"] = f"/opt/hznctl-{edit[1]}"
        _dump(path, project)
    elif kind in ("rotate", "rekey"):
        name = _CONNECTIONS[edit[1] % len(_CONNECTIONS)]
        path = root / "secrets" / f"{name}.yaml"
        value = _password(name) if kind == "rekey" else f"rotated-{edit[2]}"
        sops_encrypt({"password": value}, _recipients(path), path)


def _shown(result: Any) -> tuple[Any, ...]:
    return (result.diagnostics, result.notes,
            *(render(result.plans) for render in RENDERERS.values()))


def _check(source: Path, base_edits: list[Any], head_edits: list[Any],
           apply: Any = _apply) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        root = repo / "inventory"
        shutil.copytree(source, root)
        _git(repo, "init", "-q")
        _git(repo, "add", ".")
        _git(repo, "commit", "-qm", "start")
        for edit in base_edits:
            apply(root, edit)
        _git(repo, "add", ".")
        _git(repo, "commit", "-qm", "base", "--allow-empty")
        for edit in head_edits:
            apply(root, edit)
        full = plan_fully(root, "HEAD", jobs=1)
        incremental = plan_against_revision(root, "HEAD", jobs=1)
        assert _shown(incremental) == _shown(full)
        for host in ("worker-eu-1", "cluster-eu"):
            assert (_shown(plan_against_revision(root, "HEAD", (host,), jobs=1))
                    == _shown(plan_fully(root, "HEAD", (host,), jobs=1)))


@pytest.fixture(autouse=True)
def _demo_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # cluster-eu's Secrets are made with its demo key, as `make run` does.
    monkeypatch.setenv("HZNCTL_AGE_KEY_FILE", str(DEMO_KEYS / "cluster-eu.agekey"))


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(_edit, max_size=2), st.lists(_edit, min_size=1, max_size=3))
def test_incremental_plan_is_the_full_plan(base_edits, head_edits) -> None:
    _check(EXAMPLE_INVENTORY, base_edits, head_edits)


def _generated_apply(root: Path, edit: tuple[Any, ...]) -> None:
    kind = edit[0]
    apps = sorted((root / "applications").glob("*.yaml"))
    connections = sorted((root / "connections").glob("*.yaml"))
    if kind == "queues":
        _add_queue(apps[edit[1] % len(apps)], edit)
    elif kind == "port":
        _set_port(connections[edit[1] % len(connections)], edit)
    elif kind == "secret":
        secrets = sorted((root / "secrets").glob("*.yaml"))
        path = secrets[edit[1] % len(secrets)]
        path.write_text(path.read_text().replace("ENC[", f"ENC[x{edit[2]}", 1))
    else:
        _apply(root, edit)


_generated_edit = st.one_of(
    st.tuples(st.just("queues"), st.integers(0, 999), st.integers(0, 9),
              st.sampled_from(["extra", "default"])),
    st.tuples(st.just("port"), st.integers(0, 999), st.integers(6000, 6999)),
    st.tuples(st.just("secret"), st.integers(0, 999), st.integers(0, 3)),
    st.tuples(st.just("template"), st.sampled_from(_RUNTIMES), st.integers(0, 3)),
    st.tuples(st.just("project-defaults"), st.sampled_from(["tries", "sleep"]),
              st.integers(1, 9)),
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_inventory(tmp_path_factory.mktemp("gen") / "inventory", **sizes(0.004))


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(_generated_edit, min_size=1, max_size=3))
def test_incremental_plan_on_a_generated_fleet(generated, head_edits) -> None:
    _check(generated, [], head_edits, _generated_apply)
