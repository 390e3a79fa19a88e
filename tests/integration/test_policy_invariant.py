"""The boundary as an invariant: for generated pull requests by the staging operator (the
example policy's `operator`), whenever `policy check` passes, the compiled bundles change
only what the role may change — staging hosts, and in production only the worker groups
of the applications the role may tune (mailer, reports) — no production bundle gains or
changes a secret file, and no bundle at all gains or changes a production secret file.

The pull requests mix what the policy means to allow with every route around it: fields
that widen where an application runs or what it binds, new objects in either environment,
secret references, host labels and names, privileges, templates, rotated secret files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hznctl.pipeline import compile_inventory
from hznctl.policy.check import check_policy
from tests.support import EXAMPLE_INVENTORY

pytestmark = pytest.mark.timeout(600)
OPERATOR = "bob@example.com"
TUNABLE = {"mailer", "reports"}  # production applications the operator may tune
ENVIRONMENTS = ["staging", "production"]
HOSTS = ["worker-staging-1", "worker-eu-1", "worker-eu-2", "worker-batch-1"]
CONNECTIONS = ["redis-staging", "redis-main", "redis-jobs", "redis-reports"]
SECRETS = [f"secrets/{c}.yaml" for c in CONNECTIONS]
STAGING_RECIPIENT = "age10r0nyw3cj4t6sfk9qjpj75er499klxal7x6evextx3ddrsfj45uqhxx9us"
EU1_RECIPIENT = "age1g72upzyl0a2uqfarcx0gl9854mn7tktqdrj754gqu79mc9r83shqnr2fkv"
recipients = st.sampled_from([STAGING_RECIPIENT, EU1_RECIPIENT])  # a copied public key

Edit = Callable[[Path], None]


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(["git", "-c", "user.name=Alice", "-c", "user.email=alice@example.com",
                           *args], cwd=repo, env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout


def _load(root: Path, relative: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((root / relative).read_text())
    return data


def _save(root: Path, relative: str, data: dict[str, Any]) -> None:
    (root / relative).parent.mkdir(parents=True, exist_ok=True)
    (root / relative).write_text(yaml.safe_dump(data, sort_keys=False))


def set_field(relative: str, path: tuple[str | int, ...], value: Any) -> Edit:
    def edit(root: Path) -> None:
        if not (root / relative).exists():
            return
        data = _load(root, relative)
        node: Any = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
        _save(root, relative, data)
    edit.__name__ = f"set {relative} {path} = {value!r}"
    return edit


def write(relative: str, data: dict[str, Any]) -> Edit:
    def edit(root: Path) -> None:
        _save(root, relative, data)
    edit.__name__ = f"write {relative} {data!r}"
    return edit


def remove(relative: str) -> Edit:
    def edit(root: Path) -> None:
        (root / relative).unlink(missing_ok=True)
    edit.__name__ = f"remove {relative}"
    return edit


def touch_secret(relative: str) -> Edit:
    def edit(root: Path) -> None:
        with (root / relative).open("a") as secret:
            secret.write("# rotated\n")  # new bytes, still a valid SOPS file
    edit.__name__ = f"touch {relative}"
    return edit


envs = st.sampled_from(ENVIRONMENTS)
host_lists = st.lists(st.sampled_from(HOSTS), min_size=1, max_size=2, unique=True)
labels = st.sampled_from([{}, {"role": "queue"}, {"role": "batch"}])
secret_refs = st.sampled_from(SECRETS).map(lambda f: {"sops": f, "key": "password"})
STOREFRONT = "applications/storefront.yaml"

def both(*steps: Edit) -> Edit:
    def edit(root: Path) -> None:
        for step in steps:
            step(root)
    edit.__name__ = " and ".join(step.__name__ for step in steps)
    return edit


allowed = st.one_of(
    st.integers(1, 6).map(lambda n: set_field(STOREFRONT, ("workers", 0, "max_processes"), n)),
    st.integers(1, 6).map(lambda n: set_field("applications/mailer.yaml",
                                              ("workers", 0, "max_processes"), n)),
    st.sampled_from([["exports"], ["exports", "exports-low"]]).map(
        lambda q: set_field("applications/reports.yaml", ("workers", 0, "queues"), q)),
    st.sampled_from(["eu-west-2", "eu-central-1"]).map(
        lambda r: set_field("connections/redis-staging.yaml", ("region",), r)),
    st.just(touch_secret("secrets/redis-staging.yaml")),
)
# Routes around the boundary that validate accepts: only the policy check stands between
# them and a production worker group (or password) on a host the operator chose.
subtle = st.one_of(
    st.builds(lambda lab, key: write("hosts/worker-staging-2.yaml", {
        "name": "worker-staging-2", "environment": "staging", "labels": lab,
        "age_recipient": key}), labels.filter(bool), recipients),
    recipients.map(lambda key: both(
        set_field("hosts/worker-staging-1.yaml", ("labels", "role"), "queue"),
        set_field("hosts/worker-staging-1.yaml", ("age_recipient",), key))),
    st.sampled_from(["redis-main", "redis-staging"]).map(lambda conn: write(
        "applications/extra.yaml", {
            "name": "Extra", "slug": "extra", "runtime": "rq", "environment": "staging",
            "allow_environments": ["production"], "directory": "/srv/extra",
            "connections": [{"connection": conn, "primary": True}],
            "workers": [{"name": "w", "queues": ["q"], "hosts": ["worker-eu-1"]}]})),
    st.sampled_from([["worker-eu-1"], ["worker-staging-1", "worker-eu-2"]]).map(
        lambda hosts: both(
            set_field(STOREFRONT, ("allow_environments",), ["production"]),
            set_field(STOREFRONT, ("connections", 0, "connection"), "redis-main"),
            set_field(STOREFRONT, ("workers", 0, "hosts"), hosts))),
)
routes = st.one_of(
    envs.map(lambda e: set_field(STOREFRONT, ("environment",), e)),
    st.lists(envs, max_size=2, unique=True).map(
        lambda e: set_field(STOREFRONT, ("allow_environments",), e)),
    host_lists.map(lambda h: set_field(STOREFRONT, ("workers", 0, "hosts"), h)),
    labels.map(lambda lab: set_field(STOREFRONT, ("workers", 0, "host_labels"), lab)),
    st.sampled_from(CONNECTIONS).map(
        lambda c: set_field(STOREFRONT, ("connections", 0, "connection"), c)),
    host_lists.map(lambda h: set_field("applications/mailer.yaml", ("workers", 0, "hosts"),
                                       h)),
    st.lists(envs, max_size=1).map(
        lambda e: set_field("applications/mailer.yaml", ("allow_environments",), e)),
    secret_refs.map(lambda r: set_field("connections/redis-staging.yaml", ("password",), r)),
    envs.map(lambda e: set_field("connections/redis-staging.yaml", ("environment",), e)),
    labels.filter(bool).map(lambda lab: set_field("hosts/worker-staging-1.yaml", ("labels",),
                                                  {**lab, "zone": "eu-west-1a"})),
    envs.map(lambda e: set_field("hosts/worker-staging-1.yaml", ("environment",), e)),
    st.just(set_field("hosts/worker-staging-1.yaml", ("privileges",), {"root": True})),
    recipients.map(lambda r: set_field("hosts/worker-staging-1.yaml", ("age_recipient",), r)),
    st.builds(lambda e, ref: write("connections/redis-x.yaml", {
        "name": "redis-x", "host": "redis-x.internal", "environment": e, "password": ref}),
        envs, secret_refs),
    st.builds(lambda e, allow, conn, hosts: write("applications/extra.yaml", {
        "name": "Extra", "slug": "extra", "runtime": "rq", "environment": e,
        "allow_environments": allow, "directory": "/srv/extra",
        "connections": [{"connection": conn, "primary": True}],
        "workers": [{"name": "w", "queues": ["q"], "hosts": hosts}]}),
        envs, st.sampled_from([[], ["production"]]),
        st.sampled_from(["redis-staging", "redis-main"]),
        st.sampled_from([["worker-staging-1"], ["worker-eu-1"]])),
    st.builds(lambda e, lab, key: write("hosts/worker-staging-2.yaml", {
        "name": "worker-staging-2", "environment": e, "labels": lab or {"role": "web"},
        "age_recipient": key}), envs, labels, recipients),
    st.sampled_from(SECRETS).map(touch_secret),
    st.just(write("templates/rq.conf.j2", {"x": "y"})),
    st.sampled_from([STOREFRONT, "hosts/worker-staging-1.yaml",
                     "applications/search-indexer.yaml"]).map(remove),
)
edits: st.SearchStrategy[Edit] = st.one_of(allowed, subtle, routes)


def _host_environments(root: Path) -> dict[str, str]:
    found = {}
    for path in (root / "hosts").glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        if isinstance(data, dict) and isinstance(data.get("environment"), str):
            found[path.stem] = data["environment"]
    return found


def _bundles(root: Path) -> dict[str, Any]:
    result = compile_inventory(root, revision=None, jobs=1)
    return result.bundles if result.ok else {}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    repo = tmp_path_factory.mktemp("invariant")
    shutil.copytree(EXAMPLE_INVENTORY, repo / "inventory")
    # The admin lets billing (production, host_labels role=queue) also use staging hosts,
    # and labels the staging host role=web: a host's labels or a new host can then pull a
    # production worker group onto staging.
    billing = repo / "inventory/applications/billing.yaml"
    billing.write_text(billing.read_text().replace(
        "environment: production", "environment: production\nallow_environments: [staging]"))
    host = repo / "inventory/hosts/worker-staging-1.yaml"
    host.write_text(host.read_text().replace("role: queue", "role: web"))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    bundles = _bundles(repo / "inventory")
    assert bundles, "the base inventory compiles"
    yield repo, bundles


def _secret_environments(root: Path) -> dict[str, set[str]]:
    """secrets/<file> -> the environments of the connections that use it."""
    found: dict[str, set[str]] = {}
    for path in (root / "connections").glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        ref = (data.get("password") or {}).get("sops")
        if ref:
            found.setdefault(ref, set()).add(data["environment"])
    return found


def _changed_files(before: Any, after: Any) -> set[str]:
    old = dict(before.files) if before is not None else {}
    new = dict(after.files) if after is not None else {}
    return {p for p in {*old, *new} if old.get(p) != new.get(p)}


def _tunable_files(bundle: Any) -> set[str]:
    if bundle is None:
        return set()
    manifest = bundle.manifest
    return {p for group, entry in manifest.groups.items() if entry.application in TUNABLE
            for p in manifest.group_files(group)}


def test_a_passing_policy_check_changes_only_what_the_role_may(base) -> None:
    repo, base_bundles = base
    root = repo / "inventory"
    base_envs = _host_environments(root)
    secret_envs = _secret_environments(root)
    seen = {"allowed": 0, "compiled": 0, "denied": 0}

    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(st.lists(edits, min_size=1, max_size=3))
    def pull_request(changes: list[Edit]) -> None:
        _git(repo, "checkout", "-q", "--", ".")
        _git(repo, "clean", "-qfd", "--", "inventory")
        for change in changes:
            change(root)
        result = check_policy(root, "main", OPERATOR, label="inventory")
        if not result.ok:
            seen["denied"] += 1
            return
        seen["allowed"] += 1
        head = _bundles(root)
        if not head:
            return  # validate refused it: nothing would be deployed
        seen["compiled"] += 1
        head_envs = _host_environments(root)
        for host in {*base_bundles, *head}:
            before, after = base_bundles.get(host), head.get(host)
            changed = _changed_files(before, after)
            if not changed:
                continue
            environments = {base_envs.get(host), head_envs.get(host)} - {None}
            steps = [c.__name__ for c in changes]
            foreign = {p for p in changed if p.startswith("secrets/")
                       and secret_envs.get(p, {"staging"}) - {"staging"}}
            assert not foreign, (host, foreign, steps)  # no production secret anywhere new
            if environments <= {"staging"}:
                continue
            assert environments == {"production"}, (host, environments, steps)
            secrets = {p for p in changed if p.startswith("secrets/")}
            assert not secrets, (host, secrets, steps)
            outside = changed - _tunable_files(before) - _tunable_files(after)
            assert not outside, (host, outside, steps)

    try:
        pull_request()
    finally:
        _git(repo, "checkout", "-q", "--", ".")
        _git(repo, "clean", "-qfd", "--", "inventory")
    # The invariant was tested on real passing changes, and the check denied others.
    assert seen["compiled"] >= 5 and seen["denied"] >= 5, seen
