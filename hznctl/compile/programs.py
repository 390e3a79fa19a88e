"""Desired programs: what each host must run, as typed values (no text yet)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hznctl.bundle import dump_json
from hznctl.compile.ini import PROCESS_NUM, PROGRAM_NAME, Arg, display, expand
from hznctl.compile.spec import LARAVEL_RUNTIMES, SpecBuilder, env_prefix, spec_hash
from hznctl.execspec import ExecSpec
from hznctl.inventory import Inventory
from hznctl.models import Application, Balance, Host, WorkerGroup
from hznctl.placement import PlacedGroup
from hznctl.runtimes import LARAVEL_CONNECTION, RuntimeSpec, WorkerContext, runtime_spec

LOG_MAXBYTES = "50MB"
LOG_BACKUPS = "10"
DEFAULT_STARTSECS = 1


@dataclass
class Program:
    """One supervisord program group and every file it needs."""

    group: str
    application: Application
    worker: WorkerGroup | None
    workers: list[WorkerGroup]
    runtime: RuntimeSpec
    argv: list[Arg]
    numprocs: int
    options: dict[str, Arg]
    exec_spec: ExecSpec
    exec_json: bytes
    parameters: dict[str, str]
    secret_sources: dict[str, str]  # bundle path -> inventory path of each SOPS file
    extra_files: dict[str, bytes] = field(default_factory=dict)

    @property
    def exec_path(self) -> str:
        return f"exec/{self.group}.json"

    @property
    def file(self) -> str:
        return f"programs/{self.group}.conf"

    def process_names(self) -> list[str]:
        return [expand(self.options["process_name"], self.expansions(n))
                for n in range(self.numprocs)]

    def expansions(self, process_num: int) -> dict[str, object]:
        return {"program_name": self.group, "group_name": self.group,
                "process_num": process_num, "numprocs": self.numprocs}

    def settings(self) -> dict[str, str]:
        from hznctl.compile.ini import display_command

        return {k: display_command(self.argv) if k == "command" else display(v)
                for k, v in self.options.items()}

    @property
    def files(self) -> list[str]:
        return [self.exec_path, *sorted(self.secret_sources), *sorted(self.extra_files)]


def group_name(app: Application, worker: WorkerGroup | None) -> str:
    return f"{app.slug}-{worker.name if worker else 'horizon'}"


def _stopwaitsecs(worker: WorkerGroup, margin: int) -> int:
    # A graceful stop must outlast the longest job: never kill a job still running.
    return worker.stopwaitsecs if worker.stopwaitsecs is not None else worker.timeout + margin


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


@dataclass
class HostCompiler:
    """Builds the programs of one host from the validated inventory."""

    inventory: Inventory
    host: Host
    secret_hash: Callable[[str], str]

    @property
    def margin(self) -> int:
        return self.inventory.project.stop_margin if self.inventory.project else 30

    def programs(self, placed: list[PlacedGroup]) -> list[Program]:
        by_app: dict[str, list[WorkerGroup]] = {}
        for item in placed:
            app = self.inventory.applications[item.application]
            worker = next(w for w in app.workers if w.name == item.worker)
            by_app.setdefault(item.application, []).append(worker)
        found: list[Program] = []
        for slug, workers in sorted(by_app.items()):
            app = self.inventory.applications[slug]
            spec = runtime_spec(app.runtime)
            if spec.per_application:
                found.append(self._program(app, None, workers, spec))
            else:
                found.extend(self._program(app, w, [w], spec) for w in workers
                             if w.max_processes > 0)
        return sorted(found, key=lambda p: p.group)

    def _program(self, app: Application, worker: WorkerGroup | None,
                 workers: list[WorkerGroup], spec: RuntimeSpec) -> Program:
        group = group_name(app, worker)
        main = worker or workers[0]
        connection = app.worker_connection(main) if worker else _primary(app)
        builder = SpecBuilder(self.host, self.secret_hash)
        self._connections(builder, app, workers, connection, spec)
        extra: dict[str, bytes] = {}
        if spec.per_application:
            path = f"horizon/{app.slug}.json"
            extra[path] = dump_json(self._horizon_file(app, workers))
            builder.env["HZNCTL_HORIZON_FILE"] = builder.installed(path)
        builder.env["HZNCTL_GROUP"] = group
        for source in (app.env, *(w.env for w in ([worker] if worker else []))):
            builder.env.update(source)
        exec_spec, exec_json = builder.build(self.host.supervisord.age_key_file)
        ctx = WorkerContext(app, worker, group, self.host.name, connection)
        numprocs = 1 if spec.own_pool else main.max_processes
        sv = self.host.supervisord
        argv: list[Arg] = [sv.hznctl_bin, "exec", "--spec",
                           f"{sv.state_dir}/current/exec/{group}.json", "--", *spec.argv(ctx)]
        params = _app_parameters(app, spec)
        for w in workers:
            params |= _worker_parameters(w, app.worker_connection(w), spec,
                                         f"{w.name}." if worker is None else "")
        if worker is None:
            params["workers"] = ",".join(w.name for w in workers)
        program = Program(group, app, worker, workers, spec, argv, numprocs, {}, exec_spec,
                          exec_json, params, builder.secret_files, extra)
        program.options = self._options(program, workers)
        return program

    def _connections(self, builder: SpecBuilder, app: Application,
                     workers: list[WorkerGroup], connection: str | None,
                     spec: RuntimeSpec) -> None:
        if connection is not None:
            builder.connection(self.inventory.connections[connection],
                               url_aliases=spec.url_variables)
        others = {c for w in workers if (c := app.worker_connection(w)) not in (None, connection)}
        for other in sorted(c for c in others if c is not None):
            builder.connection(self.inventory.connections[other], prefix=env_prefix(other))
        if app.runtime in LARAVEL_RUNTIMES and app.key_prefix:
            builder.env["REDIS_PREFIX"] = app.key_prefix

    def _options(self, program: Program, workers: list[WorkerGroup]) -> dict[str, Arg]:
        sv = self.host.supervisord
        startsecs = max((w.startsecs for w in workers if w.startsecs is not None),
                        default=DEFAULT_STARTSECS)
        stopwait = max(_stopwaitsecs(w, self.margin) for w in workers)
        log = f"{sv.log_dir}/{program.group}_"
        return {
            "command": "",  # rendered from argv
            "process_name": (PROGRAM_NAME, "_", PROCESS_NUM),
            "numprocs": str(program.numprocs),
            "directory": program.application.directory,
            "user": program.application.user,
            "environment": f"HZNCTL_SPEC_SHA256={spec_hash(program.exec_json)}",
            "priority": "999",
            "autostart": "true",
            "autorestart": "true",
            "startsecs": str(startsecs),
            "startretries": "3",
            "stopsignal": "TERM",
            "stopwaitsecs": str(stopwait),
            "stopasgroup": "true",
            "killasgroup": "true",
            "stdout_logfile": (log, PROCESS_NUM, ".out.log"),
            "stdout_logfile_maxbytes": LOG_MAXBYTES,
            "stdout_logfile_backups": LOG_BACKUPS,
            "stderr_logfile": (log, PROCESS_NUM, ".err.log"),
            "stderr_logfile_maxbytes": LOG_MAXBYTES,
            "stderr_logfile_backups": LOG_BACKUPS,
        }

    def _horizon_file(self, app: Application, workers: list[WorkerGroup]) -> dict[str, object]:
        primary = _primary(app)
        supervisors = {}
        for w in workers:
            connection = app.worker_connection(w)
            supervisors[group_name(app, w)] = {
                "connection": LARAVEL_CONNECTION if connection == primary else connection,
                "queue": list(w.queues),
                "balance": w.balance.value if w.balance is not Balance.OFF else False,
                "minProcesses": w.min_processes,
                "maxProcesses": w.max_processes,
                "tries": w.tries,
                "timeout": w.timeout,
                "memory": w.memory,
                "sleep": w.sleep,
                "maxJobs": w.max_jobs,
                "maxTime": w.max_time,
                "backoff": w.backoff,
                "nice": w.nice,
            }
        return {"application": app.slug, "environment": app.environment,
                "host": self.host.name, "supervisors": supervisors}


def _primary(app: Application) -> str | None:
    binding = app.primary_binding()
    return binding.connection if binding else None
