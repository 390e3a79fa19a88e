"""Desired programs: what each host must run, as typed values (no text yet)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from importlib import resources

from hznctl.argv import Arg
from hznctl.compile.spec import (
    LARAVEL_RUNTIMES,
    SpecBuilder,
    SpecParts,
    env_prefix,
    json_member,
    json_object,
    json_string,
)
from hznctl.execspec import ExecSpec, Recycle
from hznctl.inventory import Inventory
from hznctl.models import Application, Host, Runtime, SupervisordSettings, WorkerGroup
from hznctl.models.program import ProgramOptions
from hznctl.placement import PlacedGroup
from hznctl.runtimes import (
    LARAVEL_CONNECTION,
    LARAVEL_RETRY_AFTER_VARIABLE,
    RECYCLE_EXIT_CODES,
    RQ_SUPPORT_FILE,
    RuntimeSpec,
    WorkerContext,
    runtime_spec,
)

DEFAULT_STARTSECS = 1


# A program as the placement asks for it: (application, worker group or None for the
# application's pool, the worker groups it runs). The programs built for one key differ
# only by the host's settings and argv.
ProgramKey = tuple[str, str | None, tuple[str, ...]]


def program_key(app: Application, worker: WorkerGroup | None,
                workers: list[WorkerGroup]) -> ProgramKey:
    return app.slug, worker.name if worker else None, tuple(w.name for w in workers)


@dataclass(eq=False)
class Program:
    """One program group (a worker group's processes) and every file it needs but the
    host's own, as typed values: each target writes it in its own syntax.

    A compile builds each distinct program once and shares it between the hosts where it
    is the same (``ProgramBuilder``): nothing in it names a host, and programs compare by
    identity. The files that name a host (a Horizon file) are each host's own
    (``HostProgram.files``); ``host_files`` lists their paths.
    """

    group: str
    application: Application
    worker: WorkerGroup | None
    workers: list[WorkerGroup]
    runtime: RuntimeSpec
    argv: list[Arg]
    numprocs: int
    # The host's settings it is built for, and how long its processes are given to start
    # and, on a graceful stop, to finish their job.
    supervisord: SupervisordSettings
    startsecs: int
    stopwaitsecs: int
    exec_spec: ExecSpec
    exec_json: bytes
    parameters: dict[str, str]
    secret_sources: dict[str, str]  # bundle path -> inventory path of each SOPS file
    host_files: tuple[str, ...] = ()
    # Files hznctl ships with the program whatever the host (the rq worker class).
    support_files: dict[str, bytes] = field(default_factory=dict)
    # The supervisord options operators set: the group's, then the host's (unset: None).
    options: ProgramOptions = field(default_factory=ProgramOptions)

    @property
    def key(self) -> ProgramKey:
        return program_key(self.application, self.worker, self.workers)

    @property
    def exec_path(self) -> str:
        return f"exec/{self.group}.json"

    @property
    def files(self) -> list[str]:
        return [self.exec_path, *sorted(self.secret_sources), *sorted(self.host_files),
                *sorted(self.support_files)]


@dataclass(frozen=True)
class HostProgram:
    """A program as one host runs it: the shared program and the host's own files of it."""

    program: Program
    files: dict[str, bytes]  # bytes of each of ``program.host_files`` for this host


def group_name(app: Application, worker: WorkerGroup | None) -> str:
    return f"{app.slug}-{worker.name if worker else 'horizon'}"


def longest_job(worker: WorkerGroup, runtime: RuntimeSpec) -> int:
    """The longest a job of the group may run: its timeout, or with none (0) the runtime's
    own default limit (rq: 180 s), or 0 when the runtime has none either."""
    return worker.timeout or runtime.default_job_timeout or 0


def stopwaitsecs(worker: WorkerGroup, runtime: RuntimeSpec, margin: int) -> int:
    # A graceful stop must outlast the longest job: never kill a job still running.
    if worker.stopwaitsecs is not None:
        return worker.stopwaitsecs
    return longest_job(worker, runtime) + margin


def recycles(worker: WorkerGroup, runtime: RuntimeSpec) -> bool:
    """The group's workers exit by themselves after max_jobs, possibly within startsecs."""
    return runtime.exits_after_max_jobs and worker.max_jobs > 0


def _worker_parameters(worker: WorkerGroup, connection: str | None, runtime: RuntimeSpec,
                       prefix: str = "") -> dict[str, str]:
    params = {
        "connection": connection or "", "queues": ",".join(worker.queues),
        "tries": str(worker.tries), "timeout": str(worker.timeout), "memory": str(worker.memory),
        "sleep": str(worker.sleep), "max_jobs": str(worker.max_jobs),
        "max_time": str(worker.max_time), "backoff": str(worker.backoff),
        "nice": str(worker.nice),
    }
    if runtime.own_pool:
        params |= {"balance": worker.balance.value, "min_processes": str(worker.min_processes),
                   "max_processes": str(worker.max_processes)}
    if worker.command is not None:
        params["command_template"] = worker.command
    params |= {f"env.{k}": v for k, v in worker.env.items()}
    return {prefix + k: v for k, v in params.items()}


def _app_parameters(app: Application, runtime: RuntimeSpec) -> dict[str, str]:
    params = {"executable": app.executable or runtime.default_executable or ""}
    if app.app_module:
        params["app_module"] = app.app_module
    if app.command is not None:
        params["command_template"] = app.command
    params |= {f"env.{k}": v for k, v in app.env.items()}
    return params


class ProgramBuilder:
    """Builds each distinct program of a compile once, for every host where it is the same.

    A program depends on its host only through the host's supervisord settings and the
    worker argv its runtime makes for that host (celery names the host in ``--hostname``):
    both are in the key, and the builder is never given the host itself, so whatever else
    it builds cannot depend on one. Files that name the host are made by ``HostCompiler``.
    """

    def __init__(self, inventory: Inventory, secret_hash: Callable[[str], str],
                 earlier: ProgramBuilder | None = None) -> None:
        self.inventory = inventory
        self.secret_hash = secret_hash
        # A builder of another inventory, built before this one (`plan --base` builds the
        # changed hosts of both revisions): a program it built from the same objects is
        # the same program.
        self.earlier = earlier
        self.margin = inventory.project.stop_margin if inventory.project else 30
        self.spec_parts = SpecParts(inventory.connections, secret_hash)
        self._built: dict[ProgramKey, dict[Hashable, Program]] = {}
        self._workers = {(slug, w.name): w for slug, app in inventory.applications.items()
                         for w in reversed(app.workers)}  # the first of a repeated name
        self._supervisors: dict[str, dict[str, str]] = {}  # by application, worker

    def forget(self, key: ProgramKey) -> None:
        """Let go of the programs built by ``key``: no host left to build needs them."""
        self._built.pop(key, None)

    def forget_application(self, application: str) -> None:
        """Let go of what was made for ``application``: no host left to build runs it."""
        self._supervisors.pop(application, None)

    def worker(self, application: str, name: str) -> WorkerGroup:
        return self._workers[application, name]

    def horizon_supervisor(self, app: Application, worker: WorkerGroup) -> str:
        """``horizon_supervisor`` as JSON laid out for its place in the Horizon file."""
        known = self._supervisors.setdefault(app.slug, {})
        found = known.get(worker.name)
        if found is None:
            found = known[worker.name] = json_member(horizon_supervisor(app, worker), 2)
        return found

    def program(self, supervisord: SupervisordSettings, app: Application,
                worker: WorkerGroup | None, workers: list[WorkerGroup], spec: RuntimeSpec,
                connection: str | None, worker_argv: list[Arg]) -> Program:
        built = self._built.setdefault(program_key(app, worker, workers), {})
        key = (supervisord, tuple(worker_argv))
        program = built.get(key)
        if program is None:
            program = built[key] = (
                self._built_earlier(app, worker, workers, connection, key)
                or self._build(supervisord, app, worker, workers, spec, connection,
                               worker_argv))
        return program

    def _built_earlier(self, app: Application, worker: WorkerGroup | None,
                       workers: list[WorkerGroup], connection: str | None,
                       key: Hashable) -> Program | None:
        """The program the earlier builder built for the same key from the very same
        application, with the very same connections of the same secrets and the same
        stop margin: everything ``_build`` reads."""
        earlier = self.earlier
        if earlier is None or earlier.margin != self.margin:
            return None
        found = earlier._built.get(program_key(app, worker, workers), {}).get(key)
        if found is None or earlier.inventory.applications.get(app.slug) is not app:
            return None
        names = {connection, *(app.worker_connection(w) for w in workers)}
        for name in sorted(n for n in names if n is not None):
            mine = self.inventory.connections.get(name)
            if mine is not earlier.inventory.connections.get(name):
                return None
            if mine is not None and mine.password is not None and self.secret_hash(
                    mine.password.sops) != earlier.secret_hash(mine.password.sops):
                return None
        return found

    def _build(self, sv: SupervisordSettings, app: Application, worker: WorkerGroup | None,
               workers: list[WorkerGroup], spec: RuntimeSpec, connection: str | None,
               worker_argv: list[Arg]) -> Program:
        group = group_name(app, worker)
        main = worker or workers[0]
        builder = SpecBuilder(sv.state_dir, self.spec_parts)
        self._connections(builder, app, workers, connection, spec)
        host_files: tuple[str, ...] = ()
        if worker is None:  # the application's one program on the host (Horizon)
            path = horizon_path(app)
            host_files = (path,)
            builder.env["HZNCTL_HORIZON_FILE"] = builder.installed(path)
        builder.env["HZNCTL_GROUP"] = group
        support: dict[str, bytes] = {}
        if app.runtime is Runtime.RQ and worker is not None and worker.kind == "worker":
            support = self._rq_support(builder, app, worker)
        if app.runtime in LARAVEL_RUNTIMES:
            retry_after = app.effective_retry_after
            if retry_after is not None:  # stock config/queue.php reads it
                builder.env[LARAVEL_RETRY_AFTER_VARIABLE] = str(retry_after)
        if worker is not None and worker.kind == "worker" and recycles(worker, spec):
            builder.recycle = Recycle(min_uptime=self._startsecs(workers) + 0.5,
                                      exit_codes=list(RECYCLE_EXIT_CODES[app.runtime]))
        for source in (app.env, *(w.env for w in ([worker] if worker else []))):
            builder.env.update(source)
        if support:
            path = builder.installed("support")
            python_path = builder.env.get("PYTHONPATH")
            builder.env["PYTHONPATH"] = f"{path}:{python_path}" if python_path else path
        exec_spec, exec_json = builder.build(sv.age_key_file)
        numprocs = 1 if spec.own_pool or main.kind == "scheduler" else main.max_processes
        argv: list[Arg] = [sv.hznctl_bin, "exec", "--spec",
                           f"{sv.state_dir}/current/exec/{group}.json", "--", *worker_argv]
        params = _app_parameters(app, spec)
        for w in workers:
            params |= _worker_parameters(w, app.worker_connection(w), spec,
                                         f"{w.name}." if worker is None else "")
        if worker is None:
            params["workers"] = ",".join(w.name for w in workers)
        startsecs = self._startsecs(workers)
        stopwait = max(stopwaitsecs(w, spec, self.margin) for w in workers)
        return Program(group=group, application=app, worker=worker, workers=workers,
                       runtime=spec, argv=argv, numprocs=numprocs, supervisord=sv,
                       startsecs=startsecs, stopwaitsecs=stopwait, exec_spec=exec_spec,
                       exec_json=exec_json, parameters=params,
                       secret_sources=builder.secret_files, host_files=host_files,
                       support_files=support, options=main.supervisord.over(sv.program))

    def _rq_support(self, builder: SpecBuilder, app: Application,
                    worker: WorkerGroup) -> dict[str, bytes]:
        builder.env["HZNCTL_RQ_TIMEOUT"] = str(worker.timeout)
        if app.app_module:
            builder.env["HZNCTL_RQ_WORKER_CLASS"] = app.app_module
        return {RQ_SUPPORT_FILE: rq_support_module()}

    @staticmethod
    def _startsecs(workers: list[WorkerGroup]) -> int:
        return max((w.startsecs for w in workers if w.startsecs is not None),
                   default=DEFAULT_STARTSECS)

    def _connections(self, builder: SpecBuilder, app: Application,
                     workers: list[WorkerGroup], connection: str | None,
                     spec: RuntimeSpec) -> None:
        if connection is not None:
            builder.connection(connection, url_aliases=spec.url_variables)
        others = {c for w in workers if (c := app.worker_connection(w)) not in (None, connection)}
        for other in sorted(c for c in others if c is not None):
            builder.connection(other, prefix=env_prefix(other))
        if app.runtime in LARAVEL_RUNTIMES and app.key_prefix:
            builder.env["REDIS_PREFIX"] = app.key_prefix

@functools.cache
def rq_support_module() -> bytes:
    return (resources.files("hznctl") / "support" / "hznctl_rq.py").read_bytes()


def horizon_path(app: Application) -> str:
    return f"horizon/{app.slug}.json"


@dataclass
class HostCompiler:
    """The programs of one host: the host's parts, and the rest from the shared builder."""

    host: Host
    builder: ProgramBuilder

    def programs(self, placed: list[PlacedGroup]) -> list[HostProgram]:
        found = [self._program(app, worker, workers, spec)
                 for app, worker, workers, spec in self._groups(placed)]
        return sorted(found, key=lambda p: p.program.group)

    def program_keys(self, placed: list[PlacedGroup]) -> set[ProgramKey]:
        """The keys of the programs ``programs`` builds for ``placed`` (``ProgramBuilder``
        keeps what it built by them), without building any."""
        return {program_key(app, worker, workers)
                for app, worker, workers, _ in self._groups(placed)}

    def _groups(self, placed: list[PlacedGroup]
                ) -> Iterator[tuple[Application, WorkerGroup | None, list[WorkerGroup],
                                    RuntimeSpec]]:
        """Each program of the host: its application, its worker group (None: the
        application's pool of them, as Horizon runs it), the groups it runs, its runtime."""
        applications = self.builder.inventory.applications
        by_app: dict[str, list[WorkerGroup]] = {}
        for item in placed:
            worker = self.builder.worker(item.application, item.worker)
            by_app.setdefault(item.application, []).append(worker)
        for slug, workers in sorted(by_app.items()):
            app = applications[slug]
            spec = runtime_spec(app.runtime)
            # A scheduler is a program of its own, in every runtime.
            own = [w for w in workers if w.kind == "scheduler" or not spec.per_application]
            yield from ((app, w, [w], spec) for w in own if w.max_processes > 0)
            pooled = [w for w in workers if spec.per_application and w.kind == "worker"]
            if pooled:
                yield app, None, pooled, spec

    def _program(self, app: Application, worker: WorkerGroup | None,
                 workers: list[WorkerGroup], spec: RuntimeSpec) -> HostProgram:
        # Everything that depends on the host's name is made here, nowhere else.
        group = group_name(app, worker)
        connection = app.worker_connection(worker) if worker else _primary(app)
        ctx = WorkerContext(app, worker, group, self.host.name, connection)
        program = self.builder.program(self.host.supervisord, app, worker, workers, spec,
                                       connection, spec.worker_argv(ctx))
        files = {}
        if worker is None:
            files[horizon_path(app)] = self._horizon_file(app, workers)
        return HostProgram(program, files)

    def _horizon_file(self, app: Application, workers: list[WorkerGroup]) -> bytes:
        # dump_json of the file's data, from each group's supervisor made once per compile.
        supervisors = {group_name(app, w): self.builder.horizon_supervisor(app, w)
                       for w in workers}
        members = {"application": json_string(app.slug),
                   "environment": json_string(app.environment),
                   "host": json_string(self.host.name),
                   "supervisors": json_object(supervisors, 1)}
        return (json_object(members, 0) + "\n").encode()


def horizon_supervisor(app: Application, worker: WorkerGroup) -> dict[str, object]:
    """A worker group as a supervisor of the application's Horizon file."""
    connection = app.worker_connection(worker)
    supervisor: dict[str, object] = {
        "connection": LARAVEL_CONNECTION if connection == _primary(app) else connection,
        "queue": list(worker.queues),
        # Horizon's own values (SupervisorOptions): 'off' is one pool for all the queues;
        # false or null would also be read as auto-scaling (autoScaling() is
        # balance !== 'simple'), so the string is written as it is.
        "balance": worker.balance.value,
        "minProcesses": worker.min_processes,
        "maxProcesses": worker.max_processes,
        "tries": worker.tries,
        "timeout": worker.timeout,
        "memory": worker.memory,
        "sleep": worker.sleep,
        "maxJobs": worker.max_jobs,
        "maxTime": worker.max_time,
        "backoff": worker.backoff,
        "nice": worker.nice,
        "rest": worker.rest,
        "force": worker.force,
    }
    optional = {"autoScalingStrategy": worker.autoscaling_strategy,
                "balanceMaxShift": worker.balance_max_shift,
                "balanceCooldown": worker.balance_cooldown}
    supervisor |= {k: v for k, v in optional.items() if v is not None}
    return supervisor


def _primary(app: Application) -> str | None:
    binding = app.primary_binding()
    return binding.connection if binding else None
