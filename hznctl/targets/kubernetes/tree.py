"""A cluster's kustomize tree, in memory: a pure function of the inventory's typed values.

Layout (``DIR/<cluster>/``)::

    kustomization.yaml                       every resource below, in the namespace
    deployments/<group>.yaml                 Deployment and PodDisruptionBudget
    autoscaling/<group>.yaml                 KEDA ScaledObject (balance: auto)
    autoscaling/auth-<connection>.yaml       KEDA TriggerAuthentication
    config/<app>-horizon.yaml                Horizon's supervisors (ConfigMap)
    secrets/hznctl-<connection>.yaml         Secret, SOPS-encrypted for the cluster
    manifest.json                            what `hznctl plan` compares
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hznctl.bundle.jsonout import dump_json
from hznctl.bundle.manifest import sha256_hex
from hznctl.compile.programs import group_name, horizon_supervisor
from hznctl.compile.spec import LARAVEL_RUNTIMES, SpecParts, env_prefix
from hznctl.execspec import RedisUrl
from hznctl.inventory import Inventory
from hznctl.models import Application, Balance, Host, WorkerGroup
from hznctl.models.kubernetes import KubernetesSettings
from hznctl.placement import groups_by_host
from hznctl.runtimes import RuntimeSpec, WorkerContext, runtime_spec, waiting_lists
from hznctl.secrets.worker_env import redis_url
from hznctl.targets.kubernetes import objects, yamltext
from hznctl.targets.kubernetes.manifest import MANIFEST, ClusterManifest, DeploymentEntry
from hznctl.targets.kubernetes.objects import Trigger, Workload
from hznctl.targets.kubernetes.secrets import PendingSecret, SecretValue

# Celery names each worker node: %h is the pod's host name, unique among the replicas.
POD_HOST = "%h"


@dataclass(frozen=True)
class ClusterTree:
    """What `compile` writes for one cluster: plain manifests, and Secrets to encrypt."""

    cluster: str
    manifest: ClusterManifest
    files: Mapping[str, bytes]  # every file but the Secrets (manifest.json included)
    secrets: Mapping[str, PendingSecret]  # path -> the Secret to encrypt there


@dataclass(frozen=True)
class _Made:
    files: tuple[tuple[str, bytes], ...]
    entry: DeploymentEntry


class SharedWork:
    """What every cluster tree of one compile shares: connections' entries, and each
    worker group's files per distinct cluster settings."""

    def __init__(self, inventory: Inventory, secret_hash: Callable[[str], str]) -> None:
        self.parts = SpecParts(inventory.connections, secret_hash)
        self.groups: dict[tuple[str, str, str], _Made] = {}


@dataclass
class _Builder:
    inventory: Inventory
    host: Host
    settings: KubernetesSettings
    secret_hash: Callable[[str], str]
    margin: int
    parts: SpecParts = field(init=False)
    files: dict[str, bytes] = field(default_factory=dict)
    secrets: dict[str, PendingSecret] = field(default_factory=dict)
    auths: dict[str, str] = field(default_factory=dict)  # connection -> TriggerAuth name
    entries: dict[str, DeploymentEntry] = field(default_factory=dict)
    shared: SharedWork | None = None

    def __post_init__(self) -> None:
        if self.shared is None:
            self.shared = SharedWork(self.inventory, self.secret_hash)
        self.parts = self.shared.parts
        self.settings_key = self.settings.model_dump_json()

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    def tree_labels(self) -> dict[str, str]:
        return {**dict(sorted(self.settings.labels.items())),
                "app.kubernetes.io/managed-by": objects.MANAGED_BY}

    # ---- secrets --------------------------------------------------------------------

    def secret_for(self, connection: str) -> str | None:
        """The Secret holding ``connection``'s password and URL (None: no password)."""
        conn = self.inventory.connections[connection]
        if conn.password is None:
            return None
        name = secret_name(connection)
        path = f"secrets/{name}.yaml"
        if path not in self.secrets:
            url = RedisUrl(tls=conn.tls.enabled, host=conn.host, port=conn.port,
                           database=conn.database, username=conn.username,
                           password_env="PASSWORD")
            values = (SecretValue("password", conn.password.sops, conn.password.key, None),
                      SecretValue("url", conn.password.sops, conn.password.key, url))
            made_of = {"sops": conn.password.sops,
                       "sops_sha256": self.secret_hash(conn.password.sops),
                       "key": conn.password.key, "url": url.model_dump(mode="json")}
            values_sha256 = sha256_hex(dump_json(made_of))
            source = sha256_hex(dump_json({
                **made_of, "recipient": self.host.age_recipient, "namespace": self.namespace,
                "name": name, "labels": self.tree_labels()}))
            header = objects.secret_header(self.namespace, self.tree_labels(), name, source)
            self.secrets[path] = PendingSecret(path, name, header, values, source,
                                               values_sha256)
        return name

    def env(self, app: Application, workers: list[WorkerGroup], connection: str | None,
            spec: RuntimeSpec, group: str) -> tuple[tuple[dict[str, Any], ...], dict[str, str]]:
        """The container's variables, the same names the supervisord target's exec spec
        sets, with the password and the URLs read from the connection's Secret."""
        found: dict[str, dict[str, Any]] = {}
        used: dict[str, str] = {}
        wanted: list[tuple[str, str, tuple[str, ...]]] = []
        if connection is not None:
            wanted.append((connection, "REDIS", tuple(spec.url_variables)))
        others = {c for w in workers if (c := app.worker_connection(w)) not in (None, connection)}
        wanted += [(c, env_prefix(c), ()) for c in sorted(o for o in others if o is not None)]
        for name, prefix, aliases in wanted:
            entries = self.parts.entries(name, prefix, aliases, "/")
            secret = self.secret_for(name)
            for var, value in entries.env.items():
                found[var] = {"name": var, "value": value}
            for var in entries.secrets:
                assert secret is not None
                found[var] = _from_secret(var, secret, "password")
            for var, (url, _) in entries.urls.items():
                if url.password_env is None:
                    found[var] = {"name": var, "value": redis_url(url, {})}
                else:
                    assert secret is not None
                    found[var] = _from_secret(var, secret, "url")
            if secret is not None:
                used[secret] = self.secrets[f"secrets/{secret}.yaml"].values_sha256
        plain: dict[str, str] = {"HZNCTL_GROUP": group}
        if app.runtime in LARAVEL_RUNTIMES and app.key_prefix:
            plain["REDIS_PREFIX"] = app.key_prefix
        for source in (app.env, *(w.env for w in workers if len(workers) == 1)):
            plain.update(source)
        for var, value in plain.items():
            found[var] = {"name": var, "value": value}
        return tuple(found[k] for k in sorted(found)), dict(sorted(used.items()))

    # ---- workloads ------------------------------------------------------------------

    def grace(self, workers: list[WorkerGroup]) -> int:
        return max(max(w.timeout + self.margin, w.stopwaitsecs or 0) for w in workers)

    def add_group(self, app: Application, worker: WorkerGroup, spec: RuntimeSpec) -> None:
        """A worker group's files: made once per compile for every cluster with the same
        settings (nothing in them names the cluster), then only its Secrets registered."""
        assert self.shared is not None
        key = (self.settings_key, app.slug, worker.name)
        made = self.shared.groups.get(key)
        if made is None:
            before = set(self.files)
            self._add_group(app, worker, spec)
            group = group_name(app, worker)
            self.shared.groups[key] = _Made(
                tuple((p, d) for p, d in self.files.items() if p not in before
                      and not p.startswith("autoscaling/auth-")),
                self.entries[group])
            return
        for path, data in made.files:
            self.files[path] = data
        self.entries[group_name(app, worker)] = made.entry
        connection = app.worker_connection(worker)  # a group's env reads only its own
        if connection is not None:
            self.secret_for(connection)
            if worker.balance is Balance.AUTO:
                self.add_auth(connection)

    def _add_group(self, app: Application, worker: WorkerGroup, spec: RuntimeSpec) -> None:
        group = group_name(app, worker)
        connection = app.worker_connection(worker)
        # One worker process per pod: replicas stand for processes on a cluster.
        one = worker.model_copy(update={"min_processes": 1, "max_processes": 1,
                                        "balance": Balance.OFF, "nice": 0})
        argv = spec.argv(WorkerContext(app, one, group, POD_HOST, connection))
        env, used = self.env(app, [worker], connection, spec, group)
        autoscaled = worker.balance is Balance.AUTO
        workload = Workload(group, app, worker, (worker,), tuple(str(a) for a in argv), env,
                            None if autoscaled else worker.max_processes,
                            self.grace([worker]), worker.memory, used)
        documents = [self.deployment(workload)]
        documents.append(objects.disruption_budget(self.settings, workload, spec.runtime.value))
        self.add_file(f"deployments/{group}.yaml", documents)
        if autoscaled:
            self.add_scaling(workload, app, worker, connection, spec)
        replicas = (f"{worker.min_processes}..{worker.max_processes} (KEDA)" if autoscaled
                    else str(worker.max_processes))
        self.entry(workload, spec, replicas, documents[0])

    def add_horizon(self, app: Application, workers: list[WorkerGroup], spec: RuntimeSpec
                    ) -> None:
        group = group_name(app, None)
        primary = app.primary_binding()
        connection = primary.connection if primary else None
        argv = spec.argv(WorkerContext(app, None, group, POD_HOST, connection))
        env, used = self.env(app, workers, connection, spec, group)
        file_name = f"{app.slug}.json"
        text = dump_json({
            "application": app.slug, "environment": app.environment,
            "host": self.host.name,
            "supervisors": {group_name(app, w): horizon_supervisor(app, w) for w in workers},
        }).decode()
        env = tuple(sorted((*env, {"name": "HZNCTL_HORIZON_FILE",
                                    "value": f"{objects.HORIZON_MOUNT}/{file_name}"}),
                           key=lambda e: str(e["name"])))
        # Horizon's master balances processes inside its pod: one pod, sized for them all.
        workload = Workload(group, app, None, tuple(workers), tuple(str(a) for a in argv), env,
                            1, self.grace(workers),
                            sum(w.max_processes * w.memory for w in workers), used,
                            sha256_hex(text.encode()))
        config = objects.horizon_config(self.settings, workload, spec.runtime.value, file_name,
                                        text)
        self.add_file(f"config/{objects.horizon_config_name(app)}.yaml", [config])
        documents = [self.deployment(workload),
                     objects.disruption_budget(self.settings, workload, spec.runtime.value)]
        self.add_file(f"deployments/{group}.yaml", documents)
        self.entry(workload, spec, "1", documents[0])

    def deployment(self, workload: Workload) -> dict[str, Any]:
        app = workload.application
        assert app.image is not None  # the cluster-workers rule requires it
        return objects.deployment(self.settings, workload, app.image, app.runtime.value)

    def add_scaling(self, workload: Workload, app: Application, worker: WorkerGroup,
                    connection: str | None, spec: RuntimeSpec) -> None:
        assert connection is not None
        conn = self.inventory.connections[connection]
        auth = self.add_auth(connection)
        host = f"[{conn.host}]" if ":" in conn.host and not conn.host.startswith("[") \
            else conn.host
        redis = objects.RedisTarget(f"{host}:{conn.port}", conn.database, conn.username,
                                    conn.tls.enabled, conn.tls.verify, auth)
        triggers = [Trigger(name, queue) for queue in worker.queues
                    for name in waiting_lists(app.runtime, queue, app.key_prefix)]
        minimum = worker.min_processes
        self.add_file(f"autoscaling/{workload.group}.yaml", [objects.scaled_object(
            self.settings, workload, spec.runtime.value, triggers, redis, minimum,
            worker.max_processes)])

    def add_auth(self, connection: str) -> str | None:
        """The TriggerAuthentication of ``connection`` (None: it has no password)."""
        secret = self.secret_for(connection)
        if secret is None:
            return None
        if connection not in self.auths:
            self.auths[connection] = secret
            self.add_file(f"autoscaling/auth-{connection}.yaml", [
                objects.trigger_authentication(self.namespace, self.tree_labels(), secret,
                                               secret)])
        return secret

    def add_file(self, path: str, documents: list[dict[str, Any]]) -> None:
        self.files[path] = yamltext.dump_all(documents)

    def entry(self, workload: Workload, spec: RuntimeSpec, replicas: str,
              deployment: dict[str, Any]) -> None:
        self.entries[workload.group] = DeploymentEntry(
            application=workload.application.slug,
            worker=workload.worker.name if workload.worker else None,
            runtime=spec.runtime.value, file=f"deployments/{workload.group}.yaml",
            replicas=replicas, template=flatten(deployment["spec"]["template"]),
            secrets=dict(workload.secrets))


def secret_name(connection: str) -> str:
    """The Secret (and KEDA TriggerAuthentication) of a connection's credentials."""
    return f"hznctl-{connection}"


def _from_secret(var: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """A pod template as ``path: value`` lines; list items with a name are keyed by it."""
    found: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            found |= flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and all(isinstance(i, dict) and "name" in i for i in value):
        for item in value:
            rest = {k: v for k, v in item.items() if k != "name"}
            found |= flatten(rest, f"{prefix}[{item['name']}]") if rest else {
                f"{prefix}[{item['name']}]": ""}
    elif isinstance(value, list) and all(isinstance(i, str) for i in value):
        found[prefix] = shlex.join(value)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found |= flatten(item, f"{prefix}[{index}]")
    else:
        found[prefix] = "true" if value is True else "false" if value is False else str(value)
    return found


def build_cluster_tree(inventory: Inventory, cluster: str, *, revision: str | None,
                       secret_hash: Callable[[str], str], generator: str,
                       shared: SharedWork | None = None) -> ClusterTree:
    """The tree of ``cluster`` (a host with target: kubernetes) from the valid inventory.

    ``shared``: the work of other clusters' trees of the same compile, to reuse.
    """
    host = inventory.hosts[cluster]
    assert host.kubernetes is not None  # the cluster-settings rule requires it
    margin = inventory.project.stop_margin if inventory.project else 30
    builder = _Builder(inventory, host, host.kubernetes, secret_hash, margin, shared=shared)
    by_app: dict[str, list[WorkerGroup]] = {}
    workers = {(slug, w.name): w for slug, app in inventory.applications.items()
               for w in reversed(app.workers)}
    for placed in groups_by_host(inventory).get(cluster, []):
        by_app.setdefault(placed.application, []).append(workers[placed.application,
                                                                 placed.worker])
    for slug, groups in sorted(by_app.items()):
        app = inventory.applications[slug]
        spec = runtime_spec(app.runtime)
        if spec.per_application:
            builder.add_horizon(app, groups, spec)
        else:
            for worker in groups:
                if worker.max_processes > 0:
                    builder.add_group(app, worker, spec)
    resources = [*builder.files, *builder.secrets]
    builder.add_file("kustomization.yaml", [objects.kustomization(builder.namespace,
                                                                  resources)])
    manifest = ClusterManifest(
        generator=generator, cluster=cluster, namespace=builder.namespace,
        environment=host.environment, revision=revision, recipient=host.age_recipient,
        deployments=dict(sorted(builder.entries.items())),
        files={p: sha256_hex(d) for p, d in sorted(builder.files.items())},
        secrets={p: s.source_sha256 for p, s in sorted(builder.secrets.items())},
    )
    files = dict(sorted(builder.files.items()))
    files[MANIFEST] = dump_json(manifest.model_dump(mode="json"))
    return ClusterTree(cluster, manifest, files, dict(sorted(builder.secrets.items())))


def build_cluster_trees(inventory: Inventory, clusters: list[str], *, revision: str | None,
                        secret_hash: Callable[[str], str], generator: str
                        ) -> dict[str, ClusterTree]:
    """The trees of ``clusters``, sharing what is the same in several of them."""
    shared = SharedWork(inventory, secret_hash)
    return {name: build_cluster_tree(inventory, name, revision=revision,
                                     secret_hash=secret_hash, generator=generator,
                                     shared=shared) for name in clusters}
