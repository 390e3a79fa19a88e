"""Imported programs as inventory objects: a host, applications, worker groups, connections.

Programs of one application (same directory and runtime) become its worker groups; a
group identical to one the application already has on other hosts gains this host
instead of a copy. Redis addresses found in a program's environment, its command line or
an `.env` file become connections, and their passwords are set through the SOPS path of
`hznctl secrets set` — never written into YAML. Every value that cannot be expressed is a
warning at its source file:line.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from hznctl.diagnostics import Diagnostic
from hznctl.importer.commands import CommandError, Recognized, recognise, split
from hznctl.importer.source import ImportError_, SourceProgram, expand, expansions
from hznctl.inventory import Inventory
from hznctl.models import Runtime
from hznctl.models.common import ENV_VAR_PATTERN, USER_PATTERN
from hznctl.redact import remember
from hznctl.scaffold import objects

_SLUG = re.compile(r"[^a-z0-9-]+")
_SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|(?:^|_)KEY(?:$|_)|DSN|CREDENTIAL|AUTH|PRIVATE",
                          re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"://[^/@\s]*:[^/@\s]*@")
# Folder names that say where a release is, not which application it is.
_RELEASE_FOLDERS = {"current", "releases", "release", "app", "src", "code", "www", "html",
                    "public", "htdocs", "shared"}
# Variables hznctl sets itself from the connection (exec specs).
_REDIS_VARIABLES = {"REDIS_HOST", "REDIS_PORT", "REDIS_DB", "REDIS_DATABASE", "REDIS_USERNAME",
                    "REDIS_PASSWORD", "REDIS_URL", "RQ_REDIS_URL", "CELERY_BROKER_URL",
                    "BROKER_URL", "REDIS_PREFIX"}
# supervisord options a worker group's `supervisord:` carries as they are (typed there).
_PROGRAM_OPTIONS = ("numprocs_start", "priority", "startretries", "autostart",
                    "redirect_stderr", "umask")
# Options whose value a worker group carries (the rest is said in a warning).
_CARRIED = {"command", "numprocs", "directory", "user", "environment", "stopwaitsecs",
            "startsecs", "process_name", *_PROGRAM_OPTIONS}
# Options hznctl sets itself on every program: importing them would change nothing.
_SET_BY_HZNCTL = {"autorestart", "stopsignal", "stopasgroup", "killasgroup",
                  "stdout_logfile", "stderr_logfile",
                  "stdout_logfile_maxbytes", "stderr_logfile_maxbytes",
                  "stdout_logfile_backups", "stderr_logfile_backups", "exitcodes"}


@dataclass(frozen=True)
class Address:
    """A Redis server and database as a program reaches it."""

    host: str
    port: int = 6379
    database: int = 0
    username: str | None = None
    tls: bool = False


@dataclass
class Options:
    """What the operator says on the command line."""

    host: str
    environment: str | None = None
    age_recipient: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    application: str | None = None
    connection: str | None = None
    env_files: Mapping[str, dict[str, str]] = field(default_factory=dict)  # folder -> vars


@dataclass
class Imported:
    """One source program and where it lands."""

    source: SourceProgram
    words: list[str]
    recognized: Recognized
    application: str
    group: str
    env: dict[str, str]


@dataclass
class Moved:
    """A password moved from a source file into a SOPS file."""

    connection: str
    where: str


@dataclass
class ImportPlan:
    writes: dict[str, str] = field(default_factory=dict)
    new: set[str] = field(default_factory=set)
    passwords: dict[str, str] = field(default_factory=dict)  # connection -> value
    moved: list[Moved] = field(default_factory=list)
    programs: list[Imported] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)


def slug(text: str, fallback: str = "default") -> str:
    value = _SLUG.sub("-", text.lower().replace("_", "-")).strip("-")[:63].strip("-")
    return value if value and value[0].isalnum() else fallback


def parse_env_file(text: str) -> dict[str, str]:
    """A `.env` file's variables (dotenv syntax: `export`, quotes, comments)."""
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(ENV_VAR_PATTERN.strip("^$"), key.strip()):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        found[key.strip()] = value
    return found


def _address_from_url(url: str) -> tuple[Address, str | None] | None:
    try:
        parts = urlsplit(url)
        port = parts.port or 6379
    except ValueError:
        return None
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        return None
    database = 0
    path = parts.path.strip("/")
    if path.isdigit():
        database = int(path)
    password = unquote(parts.password) if parts.password else None
    username = unquote(parts.username) if parts.username else None
    return Address(parts.hostname, port, database, username or None,
                   parts.scheme == "rediss"), password


def _address_from_env(env: Mapping[str, str]) -> tuple[Address, str | None] | None:
    for name in ("REDIS_URL", "RQ_REDIS_URL", "CELERY_BROKER_URL", "BROKER_URL"):
        if env.get(name) and (found := _address_from_url(env[name])):
            return found
    if "REDIS_HOST" not in env:
        return None
    port = env.get("REDIS_PORT", "6379")
    database = env.get("REDIS_DB", env.get("REDIS_DATABASE", "0"))
    return Address(env["REDIS_HOST"], int(port) if port.isdigit() else 6379,
                   int(database) if database.isdigit() else 0,
                   env.get("REDIS_USERNAME") or None), env.get("REDIS_PASSWORD") or None


class Builder:
    """Turns source programs into an ImportPlan against an existing inventory."""

    def __init__(self, inventory: Inventory, options: Options) -> None:
        self.inventory = inventory
        self.options = options
        self.plan = ImportPlan()
        self.connection_names: dict[Address, str] = {
            Address(c.host, c.port, c.database, c.username, c.tls.enabled): name
            for name, c in sorted(inventory.connections.items())}
        self.new_connections: dict[str, Address] = {}
        self.applications: dict[tuple[str, Runtime], str] = {}

    # -- per program ----------------------------------------------------------------------

    def add(self, program: SourceProgram) -> None:
        warn = self.plan.warnings.append
        values = dict(program.values)
        command = values.get("command")
        if not command:
            warn(program.warning(None, "has no command; not imported"))
            return
        numprocs_start = values.get("numprocs_start", "0")
        known: dict[str, str | int] = {
            "program_name": program.name, "group_name": program.name,
            "here": posixpath.dirname(program.file) or ".", "host_node_name": self.options.host,
            "process_num": int(numprocs_start) if numprocs_start.isdigit() else 0,
            "numprocs": values.get("numprocs", "1")}
        for option, value in sorted(values.items()):
            env_names = [n for n in expansions(value) if n.startswith("ENV_")]
            if env_names:
                warn(program.warning(option, f"expands {', '.join(sorted(env_names))} from "
                                     "supervisord's environment, which an import cannot see"
                                     + ("; the program is not imported" if option == "command"
                                        else "; the option is not imported")))
                if option == "command":
                    return
                del values[option]
            elif option == "command" and "process_num" in expansions(value):
                warn(program.warning(option, "uses %(process_num)s: every process of a "
                                     "worker group runs the same command under hznctl"))
        try:
            words = split(expand(values["command"], known))
            recognized = recognise(words)
        except (CommandError, ValueError) as exc:
            warn(program.warning("command", f"{exc}; the program is not imported"))
            return
        for note in recognized.notes:
            warn(program.warning("command", note))
        env = self._environment(program, values, known)
        directory = recognized.directory or values.get("directory")
        if directory is not None:
            directory = expand(directory, known)
        if not directory or not directory.startswith("/"):
            warn(program.warning("directory", "no absolute directory= (nor an artisan path) "
                                 "says where the application is; the program is not "
                                 "imported"))
            return
        directory = posixpath.normpath(directory)
        env = {**self.options.env_files.get(directory, {}), **env}
        application = self._application_slug(directory, recognized.runtime)
        self._worker_settings(program, values, recognized)
        group = self._group_name(program.name, application)
        self.plan.programs.append(Imported(program, words, recognized, application, group,
                                           env))

    def _environment(self, program: SourceProgram, values: dict[str, str],
                     known: dict[str, str | int]) -> dict[str, str]:
        from supervisor.datatypes import dict_of_key_value_pairs

        text = values.get("environment", "")
        if not text:
            return {}
        try:
            env: dict[str, str] = dict_of_key_value_pairs(expand(text, known))
        except ValueError:
            self.plan.warnings.append(program.warning(
                "environment", "supervisord cannot read this environment; not imported"))
            return {}
        return env

    def _worker_settings(self, program: SourceProgram, values: dict[str, str],
                         recognized: Recognized) -> None:
        worker = recognized.worker
        warn = self.plan.warnings.append
        numprocs = values.get("numprocs", "1")
        if numprocs.isdigit() and recognized.runtime in (Runtime.LARAVEL_QUEUE, Runtime.RQ,
                                                          Runtime.COMMAND):
            # numprocs is max_processes for these runtimes; min_processes means nothing
            # to them (the runtime table), so writing it would only earn a warning
            worker.setdefault("max_processes", int(numprocs))
        elif numprocs not in ("1", "") and recognized.runtime is Runtime.CELERY:
            warn(program.warning("numprocs", f"numprocs={numprocs}: hznctl runs one celery "
                                 "master per worker group with its --concurrency"))
        user = values.get("user")
        if user is not None:
            if re.fullmatch(USER_PATTERN.strip("^$"), user):
                worker["_user"] = user
            else:
                warn(program.warning("user", "not a user name hznctl accepts; not imported"))
        for option in ("startsecs", "stopwaitsecs"):
            value = values.get(option)
            if value is not None and value.strip().isdigit():
                worker[option] = int(value)
        self._program_options(program, values, worker)
        for option in sorted(set(values) - _CARRIED - _SET_BY_HZNCTL):
            warn(program.warning(option, f"{option} is not imported: hznctl does not "
                                 "express it for a worker group"))
        if "stopwaitsecs" in worker and worker["stopwaitsecs"] < worker.get("timeout", 60):
            warn(program.warning("stopwaitsecs", f"stopwaitsecs={worker['stopwaitsecs']} is "
                                 "shorter than the job timeout, so a restart would kill a "
                                 "running job; hznctl uses timeout plus the stop margin"))
            del worker["stopwaitsecs"]

    def _program_options(self, program: SourceProgram, values: dict[str, str],
                         worker: dict[str, Any]) -> None:
        """The program's own supervisord options, each as the inventory's type reads it."""
        from pydantic import ValidationError
        from supervisor.datatypes import boolean, integer

        from hznctl.models.program import ProgramOptions

        read: dict[str, Any] = {"numprocs_start": integer, "priority": integer,
                                "startretries": integer, "autostart": boolean,
                                "redirect_stderr": boolean, "umask": str.strip}
        carried: dict[str, object] = {}
        for option in _PROGRAM_OPTIONS:
            value = values.get(option)
            if value is None:
                continue
            try:
                typed = read[option](value)
                carried[option] = getattr(ProgramOptions.model_validate({option: typed}),
                                          option)
            except (ValueError, ValidationError):
                self.plan.warnings.append(program.warning(
                    option, f"{option}={value} is not a value hznctl accepts; not imported"))
        if carried:
            worker["supervisord"] = carried

    def _application_slug(self, directory: str, runtime: Runtime) -> str:
        if self.options.application:
            return self.options.application
        for name, app in sorted(self.inventory.applications.items()):
            if app.directory == directory and app.runtime is runtime:
                return name
        key = (directory, runtime)
        if key in self.applications:
            return self.applications[key]
        parts = [p for p in directory.split("/") if p]
        meaningful = [p for p in parts if p.lower() not in _RELEASE_FOLDERS]
        base = slug(meaningful[-1] if meaningful else (parts[-1] if parts else "app"), "app")
        taken = set(self.inventory.applications) | set(self.applications.values())
        name = base if base not in taken else slug(f"{base}-{runtime}")
        number = 2
        while name in taken:
            name, number = f"{base}-{number}", number + 1
        self.applications[key] = name
        return name

    def _group_name(self, program: str, application: str) -> str:
        name = slug(program)
        for prefix in (f"{application}-",):
            if name.startswith(prefix) and len(name) > len(prefix):
                name = name[len(prefix):]
        taken = {p.group for p in self.plan.programs if p.application == application}
        app = self.inventory.applications.get(application)
        if app:
            taken |= {w.name for w in app.workers}
        candidate, number = name, 2
        while candidate in taken:
            candidate, number = f"{name}-{number}", number + 1
        return candidate

    # -- connections ----------------------------------------------------------------------

    def connection_for(self, imported: Imported) -> str:
        if self.options.connection:
            return self.options.connection
        env = imported.env
        found, option = None, "command"
        for url in imported.recognized.urls:
            found = found or _address_from_url(url)
        if found is None:
            found, option = _address_from_env(env), "environment"
        where = f"{imported.source.file}:{imported.source.line_of(option)}"
        if found is None:
            address, password = Address("127.0.0.1"), None
            self.plan.warnings.append(imported.source.warning(
                "environment", "no Redis address in its environment, command line or .env "
                "file: the runtime's default 127.0.0.1:6379 database 0 is assumed"))
        else:
            address, password = found
        if password:
            remember(password)  # kept out of every output of this process from now on
        name = self.connection_names.get(address)
        if name is None:
            label = address.host.split(".")[0]
            base = slug(label if label.startswith("redis") else f"redis-{label}", "redis")
            if address.database:
                base = f"{base}-db{address.database}"
            name, number = base, 2
            while name in self.inventory.connections or name in self.new_connections:
                name, number = f"{base}-{number}", number + 1
            self.connection_names[address] = name
            self.new_connections[name] = address
        if password:
            existing = self.inventory.connections.get(name)
            if existing is not None and existing.password is not None:
                self.plan.warnings.append(imported.source.warning(
                    "environment", f"a password for {name}, which already has one in "
                    f"{existing.password.sops}: the inventory's is kept"))
            elif name in self.plan.passwords and self.plan.passwords[name] != password:
                self.plan.warnings.append(imported.source.warning(
                    "environment", f"another password for {name} than an earlier program's: "
                    "the first is kept; check which is right"))
            elif name not in self.plan.passwords:
                self.plan.passwords[name] = password
                self.plan.moved.append(Moved(name, where))
        return name

    def worker_env(self, imported: Imported) -> dict[str, str]:
        """The program's own environment less Redis settings and anything secret."""
        kept: dict[str, str] = {}
        for key, value in sorted(imported.env.items()):
            if key in _REDIS_VARIABLES:
                continue
            if _SECRET_NAME.search(key) or _URL_CREDENTIALS.search(value):
                self.plan.warnings.append(imported.source.warning(
                    "environment", f"{key} looks like a credential and is not imported (hznctl "
                    "keeps only Redis passwords, as SOPS files): give it to the worker "
                    "another way"))
                continue
            if not re.fullmatch(ENV_VAR_PATTERN.strip("^$"), key) or any(
                    ord(c) < 32 or ord(c) == 127 for c in value):
                self.plan.warnings.append(imported.source.warning(
                    "environment", f"{key} cannot be expressed; not imported"))
                continue
            kept[key] = value
        return kept


def worker_data(imported: Imported, connection: str, primary: str, host: str,
                env: dict[str, str]) -> dict[str, Any]:
    w = dict(imported.recognized.worker)
    w.pop("_user", None)
    data: dict[str, Any] = {"name": imported.group}
    if connection != primary:
        data["connection"] = connection
    data["queues"] = w.pop("queues", ["default"])
    merged_env = {**w.pop("env", {}), **env}
    for key in ("balance", "min_processes", "max_processes", "tries", "timeout", "memory",
                "sleep", "max_jobs", "max_time", "backoff", "nice", "startsecs",
                "stopwaitsecs", "supervisord"):
        if key in w:
            data[key] = w.pop(key)
    if imported.recognized.runtime is Runtime.COMMAND:
        data["command"] = imported.recognized.command
    data["hosts"] = [host]
    if merged_env:
        data["env"] = merged_env
    return data


def same_group(existing: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether two worker groups differ only in their name and hosts."""
    ignore = {"name", "hosts", "host_labels"}
    return ({k: v for k, v in existing.items() if k not in ignore}
            == {k: v for k, v in new.items() if k not in ignore})


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ImportError_(message)


def host_document(options: Options, inventory: Path) -> tuple[str, str]:
    require(options.environment is not None,
            f"host {options.host} is new: say its environment with --environment")
    assert options.environment is not None
    spec = objects.HostSpec(options.host, options.environment, options.labels,
                            options.age_recipient, "Imported from its supervisord files")
    return (objects.object_path("host", options.host),
            objects.document("host", objects.host_data(spec), inventory))


def connection_document(name: str, address: Address, environment: str,
                        inventory: Path) -> tuple[str, str]:
    spec = objects.ConnectionSpec(name, address.host, environment, address.port,
                                  address.database, address.username, address.tls,
                                  "Imported from supervisord files")
    return (objects.object_path("connection", name),
            objects.document("connection", objects.connection_data(spec), inventory))


def application_document(slug_: str, first: Imported, connections: Sequence[str],
                         environment: str, workers: list[dict[str, Any]],
                         inventory: Path, retry_after: int | None = None) -> tuple[str, str]:
    r = first.recognized
    directory = r.directory or posixpath.normpath(first.source.values.get("directory", "/"))
    spec = objects.ApplicationSpec(
        slug_, str(r.runtime), environment, directory, list(connections),
        user=first.recognized.worker.get("_user"), executable=r.executable,
        app_module=r.app_module)
    data = objects.application_data(spec)
    if retry_after is not None:
        data["retry_after"] = retry_after
    if workers:
        data["workers"] = workers
    return (objects.object_path("application", slug_),
            objects.document("application", data, inventory))
