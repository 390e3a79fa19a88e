"""Worker runtimes by name: their template, default executable, argv, stop and semantics.

Each runtime turns a worker group (or, for Horizon, an application's groups on a host)
into the argv of the worker process; the template in ``templates/<runtime>.conf.j2``
turns that into a supervisord program. Each runtime also says what every worker-group
field means for it (``semantics``: what is emitted, or ``None`` when it ignores the
field; validate warns when an ignored field is set), how its worker stops gracefully,
and how long a job runs at most when the group sets no timeout.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from hznctl.argv import Arg
from hznctl.models import Application, Balance, Runtime, WorkerGroup

# The Laravel queue connection (config/queue.php) that points at REDIS_* variables.
LARAVEL_CONNECTION = "redis"
RQ_WORKER_TTL = 420  # rq's own default: how long a worker's heartbeat key lives
# rq's Queue.DEFAULT_TIMEOUT: a job enqueued without job_timeout runs this long at most.
RQ_DEFAULT_JOB_TIMEOUT = 180
# The worker class hznctl ships for rq (support/hznctl_rq.py in the bundle, on PYTHONPATH).
RQ_WORKER_CLASS = "hznctl_rq.Worker"
RQ_SUPPORT_FILE = "support/hznctl_rq.py"
# Variables that stock Laravel config files read (config/queue.php, config/database.php).
LARAVEL_RETRY_AFTER_VARIABLE = "REDIS_QUEUE_RETRY_AFTER"
# Exit statuses of a worker that stops by itself to be replaced (max_jobs, max_time,
# memory): Laravel's Worker::EXIT_SUCCESS and EXIT_MEMORY_LIMIT, rq's normal exit.
RECYCLE_EXIT_CODES: dict[Runtime, tuple[int, ...]] = {
    Runtime.LARAVEL_QUEUE: (0, 12), Runtime.LARAVEL_HORIZON: (0, 12), Runtime.RQ: (0,),
    Runtime.CELERY: (0,), Runtime.COMMAND: (0,),
}


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
    argv: list[Arg] = [
        php, "artisan", "queue:work", LARAVEL_CONNECTION, f"--queue={','.join(w.queues)}",
        f"--tries={w.tries}", f"--timeout={w.timeout}", f"--memory={w.memory}",
        f"--sleep={_number(w.sleep)}", f"--max-jobs={w.max_jobs}",
        f"--max-time={w.max_time}", f"--backoff={_backoff(w)}",
    ]
    if w.rest:
        argv.append(f"--rest={w.rest}")
    if w.force:
        argv.append("--force")
    return _nice(w, argv)


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
        # hznctl's worker class makes the group's timeout the ceiling of every job's
        # (rq itself has no worker-side limit); it subclasses app_module's class, if any.
        "--worker-class", RQ_WORKER_CLASS,
    ]
    if w.max_jobs:
        argv += ["--max-jobs", str(w.max_jobs)]
    return _nice(w, [*argv, *w.queues])


def celery_soft_time_limit(timeout: int) -> int | None:
    """Seconds before the hard limit at which Celery raises SoftTimeLimitExceeded in the
    task (so it can clean up): a tenth of the timeout, 1 to 30 s earlier; none below 2 s."""
    if timeout < 2:
        return None
    return timeout - min(30, max(1, timeout // 10))


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
    if w.timeout:  # 0: no time limit
        soft = celery_soft_time_limit(w.timeout)
        if soft is not None:
            argv.append(f"--soft-time-limit={soft}")
        argv.append(f"--time-limit={w.timeout}")
    if w.max_jobs:
        argv.append(f"--max-tasks-per-child={w.max_jobs}")
    retry_after = ctx.application.effective_retry_after
    if retry_after is not None:
        # Celery reads settings after `--` as key=value (celery.bin.worker, config_from_
        # cmdline): the Redis transport re-delivers an unacknowledged task after this.
        argv += ["--", "broker_transport_options=(json)"
                 + json.dumps({"visibility_timeout": retry_after}, separators=(",", ":"))]
    return _nice(w, argv)


def laravel_scheduler_argv(ctx: WorkerContext) -> list[Arg]:
    return [ctx.application.executable or "php", "artisan", "schedule:work"]


def celery_scheduler_argv(ctx: WorkerContext) -> list[Arg]:
    app_module = ctx.application.app_module or ctx.application.slug
    return [ctx.application.executable or "celery", "-A", app_module, "beat",
            "--loglevel=INFO"]


def rq_scheduler_argv(ctx: WorkerContext) -> list[Arg]:
    w = _need(ctx.worker)
    assert w.schedule is not None, "validate requires an rq scheduler's schedule"
    return [ctx.application.executable or "rq", "cron", w.schedule]


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
class StopSettings:
    """How supervisord stops a runtime's worker gracefully: the signal the runtime reads as
    "finish the current job, then exit", and which processes get it. ``stopasgroup``
    sends the signal to the whole process group, so a runtime whose job runs in a child
    that dies on it (Celery's prefork pool, rq's work horse) must not have it;
    ``killasgroup`` still takes the children down when stopwaitsecs runs out."""

    signal: str = "TERM"
    stopasgroup: bool = False
    killasgroup: bool = True
    why: str = ""


# Worker-group fields whose meaning depends on the runtime (the rest are hznctl's own:
# name, connection, hosts, env, active, stop and start settings).
WORKER_FIELDS = ("queues", "balance", "min_processes", "max_processes", "tries", "timeout",
                 "memory", "sleep", "max_jobs", "max_time", "backoff", "nice", "rest",
                 "force", "autoscaling_strategy", "balance_max_shift", "balance_cooldown")

_LARAVEL_QUEUE = {
    "queues": "--queue=a,b: strict priority, b only when a is empty",
    "balance": None, "min_processes": None,
    "max_processes": "numprocs (one queue:work per process)",
    "tries": "--tries (a job's own $tries wins)",
    "timeout": "--timeout: the worker kills a job that runs longer (a job's own $timeout "
               "wins)",
    "memory": "--memory: the worker exits after a job when above it (exit 12); restarted",
    "sleep": "--sleep: seconds to wait when every queue is empty",
    "max_jobs": "--max-jobs: the worker exits after that many jobs; restarted",
    "max_time": "--max-time: the worker exits after that many seconds; restarted",
    "backoff": "--backoff (a job's own $backoff wins)",
    "nice": "nice -n", "rest": "--rest: seconds to rest between jobs",
    "force": "--force: run even in maintenance mode",
    "autoscaling_strategy": None, "balance_max_shift": None, "balance_cooldown": None,
}
_HORIZON = {
    "queues": "queue: in order; with balance off one pool works them in that order",
    "balance": "balance: auto (a pool per queue, scaled by load), simple (a pool per "
               "queue, processes split evenly), off (one pool for the queues in order, "
               "scaled between min and max)",
    "min_processes": "minProcesses (Horizon needs 1 or more)",
    "max_processes": "maxProcesses",
    "tries": "tries", "timeout": "timeout (a job's own $timeout wins)", "memory": "memory",
    "sleep": "sleep", "max_jobs": "maxJobs", "max_time": "maxTime", "backoff": "backoff",
    "nice": "nice", "rest": "rest", "force": "force",
    "autoscaling_strategy": "autoScalingStrategy (time or size; balance auto)",
    "balance_max_shift": "balanceMaxShift (balance auto)",
    "balance_cooldown": "balanceCooldown (balance auto)",
}
_RQ = {
    "queues": "queue arguments: strict priority, a later queue only when the earlier are "
              "empty",
    "balance": None, "min_processes": None,
    "max_processes": "numprocs (one rq worker per process)",
    "tries": None,
    "timeout": "the ceiling of every job's timeout (hznctl's worker class; rq's own default "
               "is 180 s); 0: jobs keep their own",
    "memory": None, "sleep": None,
    "max_jobs": "--max-jobs: the worker exits after that many jobs; restarted",
    "max_time": None, "backoff": None, "nice": "nice -n", "rest": None, "force": None,
    "autoscaling_strategy": None, "balance_max_shift": None, "balance_cooldown": None,
}
_CELERY = {
    "queues": "-Q a,b: consumed together, in no priority order (see docs/runtimes/celery.md)",
    "balance": "auto: --autoscale=max,min; simple and off: --concurrency=max",
    "min_processes": "the --autoscale floor (balance auto)",
    "max_processes": "--concurrency, or the --autoscale ceiling",
    "tries": None,
    "timeout": "--time-limit (hard: the pool child is killed) and --soft-time-limit a tenth "
               "earlier (SoftTimeLimitExceeded in the task)",
    "memory": "--max-memory-per-child: a pool child is replaced after its task",
    "sleep": None,
    "max_jobs": "--max-tasks-per-child: a pool child is replaced (the worker stays)",
    "max_time": None, "backoff": None, "nice": "nice -n", "rest": None, "force": None,
    "autoscaling_strategy": None, "balance_max_shift": None, "balance_cooldown": None,
}
_COMMAND = {
    "queues": "{queues} (comma-separated)", "balance": None, "min_processes": None,
    "max_processes": "numprocs; also {processes}", "tries": "{tries}",
    "timeout": "{timeout}; stopwaitsecs covers it", "memory": "{memory}", "sleep": "{sleep}",
    "max_jobs": None, "max_time": None, "backoff": None, "nice": None, "rest": None,
    "force": None, "autoscaling_strategy": None, "balance_max_shift": None,
    "balance_cooldown": None,
}


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
    # Per field of WORKER_FIELDS: what it means and what is emitted, or None: ignored.
    semantics: Mapping[str, str | None] = field(default_factory=dict)
    stop: StopSettings = StopSettings()
    # The longest a job runs when the group's timeout is 0, if the runtime has a limit.
    default_job_timeout: int | None = None
    # The worker exits by itself after max_jobs (supervisord restarts it).
    exits_after_max_jobs: bool = False
    queue_order: str = ""
    # The argv of a group of kind scheduler (the runtime's companion program), if any.
    scheduler: Callable[[WorkerContext], list[Arg]] | None = None

    def worker_argv(self, ctx: WorkerContext) -> list[Arg]:
        """The argv of ``ctx``'s program: the worker's, or the scheduler's."""
        if ctx.worker is not None and ctx.worker.kind == "scheduler":
            assert self.scheduler is not None, "validate refuses a scheduler here"
            return self.scheduler(ctx)
        return self.argv(ctx)

    def ignores(self, name: str) -> bool:
        return name in self.semantics and self.semantics[name] is None


_CELERY_STOP = StopSettings(
    stopasgroup=False, killasgroup=True,
    why="TERM is Celery's warm shutdown: the main process waits for the pool's running "
        "tasks; TERM sent to the pool's children (stopasgroup) kills those tasks "
        "(WorkerLostError), so as Celery's extra/supervisord/celeryd.conf only killasgroup")
_RQ_STOP = StopSettings(
    stopasgroup=False, killasgroup=True,
    why="TERM is rq's warm shutdown (rq/worker/base.py: request_stop waits for the work "
        "horse); the work horse runs in a process group of its own (fork_work_horse: "
        "os.setpgrp), so neither flag reaches it: rq's cold shutdown kills it")
_LARAVEL_STOP = StopSettings(
    stopasgroup=False, killasgroup=True,
    why="queue:work handles TERM after the current job (Illuminate/Queue/Worker.php, "
        "listenForSignals sets shouldQuit); Horizon's master passes it to its supervisors")
_COMMAND_STOP = StopSettings(
    stopasgroup=True, killasgroup=True,
    why="a command of your own: TERM to its whole process group (a wrapper script and "
        "what it started alike)")

RUNTIMES: dict[Runtime, RuntimeSpec] = {
    Runtime.LARAVEL_QUEUE: RuntimeSpec(
        Runtime.LARAVEL_QUEUE, "laravel-queue.conf.j2", "php", laravel_queue_argv,
        semantics=_LARAVEL_QUEUE, stop=_LARAVEL_STOP, exits_after_max_jobs=True,
        scheduler=laravel_scheduler_argv,
        queue_order="strict: the first queue is emptied before the next is read"),
    Runtime.LARAVEL_HORIZON: RuntimeSpec(
        Runtime.LARAVEL_HORIZON, "laravel-horizon.conf.j2", "php", laravel_horizon_argv,
        can_scale=True, per_application=True, own_pool=True, semantics=_HORIZON,
        stop=_LARAVEL_STOP, scheduler=laravel_scheduler_argv,
        queue_order="strict within a pool (balance off); per queue pools otherwise"),
    Runtime.RQ: RuntimeSpec(
        Runtime.RQ, "rq.conf.j2", "rq", rq_argv, url_variables=("RQ_REDIS_URL",),
        semantics=_RQ, stop=_RQ_STOP, default_job_timeout=RQ_DEFAULT_JOB_TIMEOUT,
        exits_after_max_jobs=True, scheduler=rq_scheduler_argv,
        queue_order="strict: a queue is read only when the ones before it are empty"),
    Runtime.CELERY: RuntimeSpec(
        Runtime.CELERY, "celery.conf.j2", "celery", celery_argv, can_scale=True,
        own_pool=True, url_variables=("CELERY_BROKER_URL",), semantics=_CELERY,
        stop=_CELERY_STOP, scheduler=celery_scheduler_argv,
        queue_order="none: kombu reads the queues round-robin"),
    Runtime.COMMAND: RuntimeSpec(
        Runtime.COMMAND, "command.conf.j2", None, command_argv, semantics=_COMMAND,
        stop=_COMMAND_STOP, queue_order="whatever your command does"),
}


def runtime_spec(runtime: Runtime) -> RuntimeSpec:
    return RUNTIMES[runtime]


# kombu's Redis transport (kombu/transport/redis.py, ``Channel._q_for_pri``): a message of
# priority p > 0 goes to the list ``<queue>\x06\x16<p>``, p rounded to ``priority_steps``.
CELERY_PRIORITY_SEP = "\x06\x16"
CELERY_PRIORITY_STEPS = (0, 3, 6, 9)


def waiting_lists(runtime: Runtime, queue: str, key_prefix: str = "") -> tuple[str, ...]:
    """Every Redis list holding ``queue``'s waiting jobs: what a queue-length autoscaler
    must add up. The first is the one ``hznctl.health.keyschemes`` measures the backlog of.

    * Laravel (queue worker and Horizon): ``<key_prefix>queues:<queue>``
      (Illuminate/Queue/RedisQueue.php ``getQueue``; the prefix is the connection's);
    * RQ: ``rq:queue:<queue>``;
    * Celery: ``<queue>`` and one list per further priority step;
    * the command runtime: ``<queue>``.
    """
    if runtime in (Runtime.LARAVEL_QUEUE, Runtime.LARAVEL_HORIZON):
        return (f"{key_prefix}queues:{queue}",)
    if runtime is Runtime.RQ:
        return (f"rq:queue:{queue}",)
    if runtime is Runtime.CELERY:
        return tuple(queue if step == 0 else f"{queue}{CELERY_PRIORITY_SEP}{step}"
                     for step in CELERY_PRIORITY_STEPS)
    return (queue,)


def semantics_table() -> str:
    """The README's table of what each worker-group field does per runtime (Markdown)."""
    names = list(RUNTIMES)
    rows = ["| field | " + " | ".join(f"`{r.value}`" for r in names) + " |",
            "|---|" + "---|" * len(names)]
    for name in WORKER_FIELDS:
        cells = []
        for runtime in names:
            meaning = RUNTIMES[runtime].semantics[name]
            cells.append("*ignored*" if meaning is None else meaning.replace("|", "\\|"))
        rows.append(f"| `{name}` | " + " | ".join(cells) + " |")
    stops = []
    for runtime in names:
        stop = RUNTIMES[runtime].stop
        groups = ("stopasgroup, " if stop.stopasgroup else "") + (
            "killasgroup" if stop.killasgroup else "")
        stops.append(f"{stop.signal}, {groups}")
    rows.append("| *stop* | " + " | ".join(stops) + " |")
    return "\n".join(rows) + "\n"


TABLE_START = "<!-- runtime-table:start (generated by `python -m hznctl.runtimes README.md`) -->"
TABLE_END = "<!-- runtime-table:end -->"


def with_semantics_table(text: str) -> str:
    """``text`` (the README) with its runtime table replaced by ``semantics_table()``."""
    head, found, rest = text.partition(TABLE_START)
    _old, found_end, tail = rest.partition(TABLE_END)
    if not (found and found_end):
        raise ValueError(f"no {TABLE_START!r} … {TABLE_END!r} markers")
    return head + TABLE_START + "\n\n" + semantics_table() + "\n" + TABLE_END + tail


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    import sys
    from pathlib import Path

    for name in sys.argv[1:]:
        path = Path(name)
        path.write_text(with_semantics_table(path.read_text(encoding="utf-8")),
                        encoding="utf-8")
