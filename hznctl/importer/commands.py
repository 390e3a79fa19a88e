"""Which runtime a program's command runs, and the worker group settings it says.

Every option spelling the runtimes accept is read (``--queue=a`` and ``--queue a``, short
flags with attached values, Celery's ``-A`` before or after ``worker``); an option hznctl
cannot express is returned as a note, so the import says it instead of dropping it.
"""

from __future__ import annotations

import math
import posixpath
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hznctl.models import Runtime

# option spelling -> (setting, takes a value)
OptionTable = dict[str, tuple[str, bool]]

_LARAVEL: OptionTable = {
    "--queue": ("queue", True), "--tries": ("tries", True), "--timeout": ("timeout", True),
    "--memory": ("memory", True), "--sleep": ("sleep", True),
    "--max-jobs": ("max_jobs", True), "--max-time": ("max_time", True),
    "--backoff": ("backoff", True), "--delay": ("backoff", True),
    "--rest": ("rest", True), "--name": ("name", True), "--force": ("force", False),
    "--once": ("once", False), "--stop-when-empty": ("stop_when_empty", False),
    "--daemon": ("daemon", False), "--env": ("env", True), "--json": ("json", False),
    "-q": ("quiet", False), "--quiet": ("quiet", False), "-v": ("verbose", False),
    "-vv": ("verbose", False), "-vvv": ("verbose", False), "--verbose": ("verbose", False),
    "-n": ("no_interaction", False), "--no-interaction": ("no_interaction", False),
    "--ansi": ("ansi", False), "--no-ansi": ("ansi", False),
}
_RQ: OptionTable = {
    "-u": ("url", True), "--url": ("url", True), "-c": ("config", True),
    "--config": ("config", True), "-w": ("worker_class", True),
    "--worker-class": ("worker_class", True), "-j": ("job_class", True),
    "--job-class": ("job_class", True), "--queue-class": ("queue_class", True),
    "-n": ("name", True), "--name": ("name", True), "--max-jobs": ("max_jobs", True),
    "--max-idle-time": ("max_idle_time", True), "-b": ("burst", False),
    "--burst": ("burst", False), "-s": ("with_scheduler", False),
    "--with-scheduler": ("with_scheduler", False), "-l": ("logging_level", True),
    "--logging_level": ("logging_level", True), "--logging-level": ("logging_level", True),
    "-v": ("verbose", False), "--verbose": ("verbose", False), "-q": ("quiet", False),
    "--quiet": ("quiet", False), "--sentry-dsn": ("sentry_dsn", True),
    "-P": ("path", True), "--path": ("path", True), "--results-ttl": ("results_ttl", True),
    "--worker-ttl": ("worker_ttl", True), "--job-monitoring-interval": ("monitoring", True),
    "--disable-job-desc-logging": ("no_desc", False), "-S": ("serializer", True),
    "--serializer": ("serializer", True), "--dequeue-strategy": ("dequeue_strategy", True),
    "--pid": ("pid", True), "--date-format": ("date_format", True),
    "--log-format": ("log_format", True),
}
_CELERY_GLOBAL: OptionTable = {
    "-A": ("app", True), "--app": ("app", True), "-b": ("broker", True),
    "--broker": ("broker", True), "--result-backend": ("result_backend", True),
    "--loader": ("loader", True), "--config": ("config", True), "--workdir": ("workdir", True),
    "-C": ("no_color", False), "--no-color": ("no_color", False), "-q": ("quiet", False),
    "--quiet": ("quiet", False), "--skip-checks": ("skip_checks", False),
}
_CELERY_WORKER: OptionTable = {
    "-Q": ("queues", True), "--queues": ("queues", True), "-X": ("exclude", True),
    "--exclude-queues": ("exclude", True), "-c": ("concurrency", True),
    "--concurrency": ("concurrency", True), "--autoscale": ("autoscale", True),
    "-P": ("pool", True), "--pool": ("pool", True), "-n": ("hostname", True),
    "--hostname": ("hostname", True), "-l": ("loglevel", True), "--loglevel": ("loglevel", True),
    "-O": ("optimization", True), "--prefetch-multiplier": ("prefetch", True),
    "--max-tasks-per-child": ("max_tasks", True), "--maxtasksperchild": ("max_tasks", True),
    "--max-memory-per-child": ("max_memory", True), "--time-limit": ("time_limit", True),
    "--soft-time-limit": ("soft_time_limit", True), "-B": ("beat", False),
    "--beat": ("beat", False), "-E": ("events", False), "--task-events": ("events", False),
    "--without-gossip": ("without_gossip", False), "--without-mingle": ("without_mingle", False),
    "--without-heartbeat": ("without_heartbeat", False), "-f": ("logfile", True),
    "--logfile": ("logfile", True), "--pidfile": ("pidfile", True), "-D": ("detach", False),
    "--detach": ("detach", False), "-S": ("statedb", True), "--statedb": ("statedb", True),
    "-s": ("schedule", True), "--schedule": ("schedule", True), "--purge": ("purge", False),
    "--discard": ("purge", False), "-e": ("executable", True),
    "--heartbeat-interval": ("heartbeat_interval", True),
}
# Options that change nothing hznctl manages, or that it sets itself.
_HARMLESS = {
    Runtime.LARAVEL_QUEUE: {"quiet", "verbose", "no_interaction", "ansi", "daemon", "json"},
    Runtime.RQ: {"logging_level", "verbose", "quiet", "name", "date_format", "log_format",
                 "worker_ttl"},
    Runtime.CELERY: {"loglevel", "hostname", "no_color", "quiet", "skip_checks", "logfile"},
}
_PHP = re.compile(r"^(?:.*/)?php(?:\d+(?:\.\d+)?)?$")
_CELERY_CLI = re.compile(r"^(?:.*/)?celery$")
_RQ_CLI = re.compile(r"^(?:.*/)?(?:rq|rqworker)$")
_PYTHON = re.compile(r"^(?:.*/)?python(?:\d+(?:\.\d+)?)?$")
_SHELL = re.compile(r"^(?:.*/)?(?:ba|da|z)?sh$")
_SHELL_SYNTAX = re.compile(r"[;&|<>`$()]")


# kombu's Redis transport default (kombu/transport/redis.py, visibility_timeout).
CELERY_VISIBILITY_TIMEOUT = 3600


class CommandError(ValueError):
    """The command cannot be read as words (e.g. an unterminated quote)."""


@dataclass
class Recognized:
    """What a command says: its runtime, the application's and the worker group's settings."""

    runtime: Runtime
    worker: dict[str, Any] = field(default_factory=dict)
    executable: str | None = None
    directory: str | None = None
    app_module: str | None = None
    command: str | None = None
    urls: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Parsed:
    values: dict[str, list[str]] = field(default_factory=dict)
    positional: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def last(self, key: str) -> str | None:
        found = self.values.get(key)
        return found[-1] if found else None


def _parse(words: Sequence[str], table: OptionTable, parsed: _Parsed | None = None,
           stop_at: str | None = None) -> tuple[_Parsed, list[str]]:
    """Options of ``table`` out of ``words``; the words after ``stop_at`` are returned."""
    parsed = parsed or _Parsed()
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if stop_at is not None and word == stop_at:
            return parsed, list(words[index:])
        if word == "--":
            parsed.positional.extend(words[index:])
            break
        if not word.startswith("-") or word == "-":
            parsed.positional.append(word)
            continue
        name, equals, value = word.partition("=")
        spec = table.get(name)
        if spec is None and not equals and not name.startswith("--") and len(name) > 2:
            spec = table.get(name[:2])  # -Qdefault, -c4
            if spec is not None and spec[1]:
                name, value, equals = name[:2], name[2:], "="
            else:
                spec = None
        if spec is None:
            parsed.unknown.append(word)
            continue
        key, takes_value = spec
        if takes_value and not equals:
            if index >= len(words):
                parsed.unknown.append(word)
                continue
            value = words[index]
            index += 1
        parsed.values.setdefault(key, []).append(value if takes_value else "true")
    return parsed, []


def split(command: str) -> list[str]:
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise CommandError(f"cannot be split into words: {exc}") from None
    if not words:
        raise CommandError("is empty")
    return words


def recognise(words: list[str]) -> Recognized:
    """The runtime and settings of a program running ``words``."""
    words, nice, env, notes = _unwrap(words)
    found = _laravel(words) or _celery(words) or _rq(words) or _command(words)
    if nice:
        found.worker["nice"] = nice
    if env:
        found.worker.setdefault("env", {}).update(env)
    found.notes[:0] = notes
    return found


def _unwrap(words: list[str]) -> tuple[list[str], int, dict[str, str], list[str]]:
    """Strip `exec`, `nice -n N`, `env A=B`, and `sh -c "exec …"` around the real command."""
    nice, env, notes = 0, {}, []
    for _ in range(8):
        head = posixpath.basename(words[0]) if words else ""
        if head == "exec" and len(words) > 1:
            words = words[1:]
        elif head == "nice" and len(words) > 1:
            rest = words[1:]
            if rest[0] == "-n" and len(rest) > 2:
                nice, words = int(rest[1]) if _int(rest[1]) else 0, rest[2:]
            elif rest[0].startswith("-") and _int(rest[0][1:]):
                nice, words = int(rest[0][1:]), rest[1:]
            else:
                nice, words = 10, rest  # nice's own default
        elif head == "env" and len(words) > 1:
            rest = words[1:]
            while rest and "=" in rest[0] and not rest[0].startswith("-"):
                key, _, value = rest[0].partition("=")
                env[key] = value
                rest = rest[1:]
            words = rest or words
            if rest is words and not env:
                break
        elif _SHELL.match(words[0]) and len(words) == 3 and words[1] == "-c":
            inner = words[2]
            if _SHELL_SYNTAX.search(inner.replace("exec ", "", 1)):
                break  # a real shell script: run as it is
            notes.append(f"the shell around the command ({words[0]} -c) is dropped: "
                         "hznctl runs the command itself")
            words = split(inner)
        else:
            break
    return words, nice, env, notes


def _int(value: str) -> bool:
    return re.fullmatch(r"-?\d+", value) is not None


def _absolute(executable: str, default: str, notes: list[str]) -> str | None:
    if executable == default:
        return None
    if executable.startswith("/"):
        return executable
    notes.append(f"{executable} is not an absolute path: hznctl runs `{default}`; set the "
                 "application's executable to the full path if that matters")
    return None


def _number(value: str, what: str, notes: list[str]) -> float | None:
    try:
        number = float(value)
    except ValueError:
        notes.append(f"{what}={value} is not a number and was not imported")
        return None
    return number if math.isfinite(number) else None


def _set_int(worker: dict[str, Any], key: str, value: str | None, what: str,
             notes: list[str]) -> None:
    if value is None:
        return
    number = _number(value, what, notes)
    if number is not None:
        worker[key] = int(number)


def _unknown(parsed: _Parsed, runtime: Runtime, keys: set[str], notes: list[str]) -> None:
    for word in parsed.unknown:
        notes.append(f"option {word} is not one hznctl knows for {runtime}; not imported")
    for key in sorted(set(parsed.values) - keys - _HARMLESS.get(runtime, set())):
        notes.append(f"option {key.replace('_', '-')} is not imported: hznctl cannot "
                     f"express it for {runtime}")


def _laravel(words: list[str]) -> Recognized | None:
    if len(words) < 3 or not _PHP.match(words[0]) or posixpath.basename(words[1]) != "artisan":
        return None
    notes: list[str] = []
    directory = posixpath.dirname(words[1]) if words[1].startswith("/") else None
    executable = _absolute(words[0], "php", notes)
    if words[2] == "horizon":
        found = Recognized(Runtime.LARAVEL_HORIZON, executable=executable, directory=directory,
                           notes=notes)
        notes.append("Horizon's supervisors come from config/horizon.php: import them with "
                     "`hznctl import horizon APPLICATION config/horizon.php --env ENV`")
        return found
    if words[2] not in ("queue:work", "queue:listen"):
        return None
    if words[2] == "queue:listen":
        notes.append("queue:listen is imported as queue:work (the same options; it does not "
                     "reload code between jobs)")
    parsed, _ = _parse(words[3:], _LARAVEL)
    worker: dict[str, Any] = {}
    if parsed.positional and parsed.positional[0] != "redis":
        notes.append(f"queue connection {parsed.positional[0]!r}: hznctl runs the Redis "
                     "connection `redis` that its environment points at")
    queue = parsed.last("queue")
    if queue:
        worker["queues"] = [q for q in queue.split(",") if q]
    else:
        notes.append("no --queue: the connection's default queue `default` is assumed")
    for key in ("tries", "timeout", "memory", "max_jobs", "max_time"):
        _set_int(worker, key, parsed.last(key), f"--{key.replace('_', '-')}", notes)
    sleep = parsed.last("sleep")
    if sleep is not None and (number := _number(sleep, "--sleep", notes)) is not None:
        worker["sleep"] = int(number) if number.is_integer() else number
    backoff = parsed.last("backoff")
    if backoff is not None:
        steps = [int(b) for b in backoff.split(",") if _int(b)]
        worker["backoff"] = steps[0] if len(steps) == 1 else steps
    _unknown(parsed, Runtime.LARAVEL_QUEUE,
             {"queue", "tries", "timeout", "memory", "sleep", "max_jobs", "max_time",
              "backoff"}, notes)
    return Recognized(Runtime.LARAVEL_QUEUE, worker, executable=executable,
                      directory=directory, notes=notes)


def _python_module(words: list[str], module: str) -> list[str] | None:
    if len(words) >= 3 and _PYTHON.match(words[0]) and words[1] == "-m" and words[2] in (
            module, f"{module}.cli"):
        return words[3:]
    return None


def _celery(words: list[str]) -> Recognized | None:
    notes: list[str] = []
    executable: str | None = None
    module_args = _python_module(words, "celery")
    if module_args is not None:
        rest = module_args
        if words[0].startswith("/"):
            executable = posixpath.join(posixpath.dirname(words[0]), "celery")
            notes.append(f"`{words[0]} -m celery` is imported as {executable}")
        else:
            notes.append("`python -m celery` is imported as `celery`")
    elif _CELERY_CLI.match(words[0]):
        executable = _absolute(words[0], "celery", notes)
        rest = words[1:]
    else:
        return None
    parsed, after = _parse(rest, {**_CELERY_GLOBAL, **_CELERY_WORKER}, stop_at="worker")
    if "worker" not in rest:
        return None  # celery beat, flower, …: a program of its own
    parsed, _ = _parse(after, {**_CELERY_GLOBAL, **_CELERY_WORKER}, parsed)
    worker: dict[str, Any] = {}
    queues = parsed.last("queues")
    worker["queues"] = [q for q in (queues or "celery").split(",") if q]
    if queues is None:
        notes.append("no -Q/--queues: celery consumes its default queue `celery`")
    autoscale = parsed.last("autoscale")
    concurrency = parsed.last("concurrency")
    if autoscale:
        high, _, low = autoscale.partition(",")
        if _int(high) and (not low or _int(low)):
            worker.update(balance="auto", max_processes=int(high),
                          min_processes=int(low or 0) or 1)
    elif concurrency is not None and _int(concurrency):
        worker.update(min_processes=int(concurrency), max_processes=int(concurrency))
    else:
        notes.append("no --concurrency: celery starts one process per CPU of the host; "
                     "imported as 1 (set max_processes)")
    _set_int(worker, "timeout", parsed.last("time_limit"), "--time-limit", notes)
    if "timeout" not in worker:
        # Without a time limit a task runs as long as it takes, until the broker hands it
        # to another worker after its visibility timeout: keep the longest limit below it.
        worker["timeout"] = CELERY_VISIBILITY_TIMEOUT - 10
        notes.append("no --time-limit: imported with the longest timeout below the Redis "
                     f"broker's visibility timeout ({worker['timeout']}s)")
    _set_int(worker, "max_jobs", parsed.last("max_tasks"), "--max-tasks-per-child", notes)
    memory = parsed.last("max_memory")
    if memory is not None and _int(memory):
        worker["memory"] = max(16, math.ceil(int(memory) / 1024))  # KiB -> MiB
    if parsed.last("beat"):
        notes.append("-B/--beat is not imported: run celery beat as a program of its own")
    urls = parsed.values.get("broker", [])
    _unknown(parsed, Runtime.CELERY,
             {"app", "broker", "queues", "autoscale", "concurrency", "time_limit", "max_tasks",
              "max_memory", "beat"}, notes)
    return Recognized(Runtime.CELERY, worker, executable=executable,
                      app_module=parsed.last("app"), urls=list(urls), notes=notes)


def _rq(words: list[str]) -> Recognized | None:
    notes: list[str] = []
    executable: str | None = None
    module_args = _python_module(words, "rq")
    if module_args is not None:
        rest = module_args
        if words[0].startswith("/"):
            executable = posixpath.join(posixpath.dirname(words[0]), "rq")
        notes.append(f"`{shlex.join(words[:3])}` is imported as `{executable or 'rq'}`")
    elif _RQ_CLI.match(words[0]):
        rest = words[1:] if posixpath.basename(words[0]) == "rq" else ["worker", *words[1:]]
        executable = _absolute(words[0], "rq", notes) if posixpath.basename(
            words[0]) == "rq" else None
    else:
        return None
    if not rest or rest[0] != "worker":
        return None
    parsed, _ = _parse(rest[1:], _RQ)
    worker: dict[str, Any] = {"queues": parsed.positional or ["default"],
                              # rq's own default job timeout (rq/defaults.py)
                              "timeout": 180}
    _set_int(worker, "max_jobs", parsed.last("max_jobs"), "--max-jobs", notes)
    found = Recognized(Runtime.RQ, worker, executable=executable,
                       app_module=parsed.last("worker_class"),
                       urls=list(parsed.values.get("url", [])), notes=notes)
    _unknown(parsed, Runtime.RQ, {"url", "worker_class", "max_jobs"}, notes)
    return found


def _command(words: list[str]) -> Recognized:
    # Braces are hznctl's placeholders in a command template: a literal one is doubled.
    template = shlex.join(words).replace("{", "{{").replace("}", "}}")
    return Recognized(Runtime.COMMAND, {"queues": ["default"]}, command=template, notes=[
        "not a Laravel, RQ or Celery worker: imported as the command runtime; set its "
        "queues to what it consumes (health checks read them)"])
