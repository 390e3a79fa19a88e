"""Worker runtimes by name: their template, default executable, argv and abilities.

Each runtime turns a worker group (or, for Horizon, an application's groups on a host)
into the argv of the worker process; the template in ``templates/<runtime>.conf.j2``
turns that into a supervisord program.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hznctl.argv import Arg
from hznctl.models import Application, Balance, Runtime, WorkerGroup

# The Laravel queue connection (config/queue.php) that points at REDIS_* variables.
LARAVEL_CONNECTION = "redis"
RQ_WORKER_TTL = 420  # rq's own default: how long a worker's heartbeat key lives


@dataclass(frozen=True)
class WorkerContext:
    """What a runtime needs to build one program's worker argv."""

    application: Application
    worker: WorkerGroup | None  # None for an application-wide program (Horizon)
    group: str
    host: str
    connection: str | None


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _backoff(worker: WorkerGroup) -> str:
    if isinstance(worker.backoff, list):
        return ",".join(str(b) for b in worker.backoff) or "0"
    return str(worker.backoff)


def _nice(worker: WorkerGroup, argv: list[Arg]) -> list[Arg]:
    return ["nice", "-n", str(worker.nice), *argv] if worker.nice else argv


def _need(worker: WorkerGroup | None) -> WorkerGroup:
    assert worker is not None, "this runtime runs one program per worker group"
    return worker


def laravel_queue_argv(ctx: WorkerContext) -> list[Arg]:
    w = _need(ctx.worker)
    php = ctx.application.executable or "php"
    return _nice(w, [
        php, "artisan", "queue:work", LARAVEL_CONNECTION, f"--queue={','.join(w.queues)}",
        f"--tries={w.tries}", f"--timeout={w.timeout}", f"--memory={w.memory}",
        f"--sleep={_number(w.sleep)}", f"--max-jobs={w.max_jobs}",
        f"--max-time={w.max_time}", f"--backoff={_backoff(w)}",
    ])


def laravel_horizon_argv(ctx: WorkerContext) -> list[Arg]:
    return [ctx.application.executable or "php", "artisan", "horizon"]


def rq_argv(ctx: WorkerContext) -> list[Arg]:
    w = _need(ctx.worker)
    argv: list[Arg] = [
        ctx.application.executable or "rq", "worker",
        # No --name: rq refuses to start a worker whose name is still registered, and a
        # worker stopped without cleaning up (killed, or its password rotated) stays
        # registered for --worker-ttl; rq's default name is unique for every start.
        "--worker-ttl", str(RQ_WORKER_TTL),
    ]
    if w.max_jobs:
        argv += ["--max-jobs", str(w.max_jobs)]
    if ctx.application.app_module:
        argv += ["--worker-class", ctx.application.app_module]
    return _nice(w, [*argv, *w.queues])


def celery_argv(ctx: WorkerContext) -> list[Arg]:
    w = _need(ctx.worker)
    app_module = ctx.application.app_module or ctx.application.slug
    if w.balance is Balance.AUTO:
        pool = f"--autoscale={w.max_processes},{w.min_processes}"
    else:
        pool = f"--concurrency={w.max_processes}"
    argv: list[Arg] = [
        ctx.application.executable or "celery", "-A", app_module, "worker",
        "-Q", ",".join(w.queues), pool, f"--hostname={ctx.group}@{ctx.host}",
        "--loglevel=INFO", f"--max-memory-per-child={w.memory * 1024}",
    ]
    if w.timeout:  # 0: no hard time limit
        argv.append(f"--time-limit={w.timeout}")
    if w.max_jobs:
        argv.append(f"--max-tasks-per-child={w.max_jobs}")
    return _nice(w, argv)


PLACEHOLDERS = ("queues", "connection", "processes", "timeout", "tries", "memory", "sleep",
                "worker", "application")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]")


class CommandProblem(ValueError):
    """A command template that cannot be used; the message says why."""


def split_command(template: str) -> list[str]:
    """The command template's arguments (shell words), or CommandProblem."""
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise CommandProblem(f"cannot be split into arguments: {exc}") from None
    if not words:
        raise CommandProblem("is empty")
    for word in words:
        fill_placeholders(word, {name: "" for name in PLACEHOLDERS})
    return words


def fill_placeholders(word: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name is None:
            raise CommandProblem("has a lone '{' or '}' (write {{ or }} for a literal brace)")
        if name not in values:
            raise CommandProblem(f"has an unknown placeholder {{{name}}}; known: "
                                 + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS))
        return values[name]

    return _PLACEHOLDER.sub(replace, word)


def command_argv(ctx: WorkerContext) -> list[Arg]:
    w = _need(ctx.worker)
    template = w.command or ctx.application.command
    if template is None:
        raise CommandProblem("the command runtime needs a command (application or worker)")
    values = {
        "queues": ",".join(w.queues), "connection": ctx.connection or "",
        "processes": str(w.max_processes), "timeout": str(w.timeout), "tries": str(w.tries),
        "memory": str(w.memory), "sleep": _number(w.sleep), "worker": w.name,
        "application": ctx.application.slug,
    }
    return [fill_placeholders(word, values) for word in split_command(template)]


@dataclass(frozen=True)
class RuntimeSpec:
    runtime: Runtime
    template: str
    default_executable: str | None
    argv: Callable[[WorkerContext], list[Arg]]
    can_scale: bool = False
    # One program per application and host that runs all its groups there (Horizon).
    per_application: bool = False
    # Supervisord processes per program: the group's max_processes, or 1 when the
    # runtime manages its own pool of processes.
    own_pool: bool = False
    url_variables: Sequence[str] = ()


RUNTIMES: dict[Runtime, RuntimeSpec] = {
    Runtime.LARAVEL_QUEUE: RuntimeSpec(Runtime.LARAVEL_QUEUE, "laravel-queue.conf.j2", "php",
                                       laravel_queue_argv),
    Runtime.LARAVEL_HORIZON: RuntimeSpec(Runtime.LARAVEL_HORIZON, "laravel-horizon.conf.j2",
                                         "php", laravel_horizon_argv, can_scale=True,
                                         per_application=True, own_pool=True),
    Runtime.RQ: RuntimeSpec(Runtime.RQ, "rq.conf.j2", "rq", rq_argv,
                            url_variables=("RQ_REDIS_URL",)),
    Runtime.CELERY: RuntimeSpec(Runtime.CELERY, "celery.conf.j2", "celery", celery_argv,
                                can_scale=True, own_pool=True,
                                url_variables=("CELERY_BROKER_URL",)),
    Runtime.COMMAND: RuntimeSpec(Runtime.COMMAND, "command.conf.j2", None, command_argv),
}


def runtime_spec(runtime: Runtime) -> RuntimeSpec:
    return RUNTIMES[runtime]
