"""Minimal applications for the real worker runtimes (Celery, RQ, Laravel's queue:work) and
a one-application inventory around a real redis-server and supervisord.

Each app's jobs record in Redis what happened (``started``, ``results``, who ran them), so
that a test reads the real worker's behaviour there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.integration.deploy_fixtures import Site, _dump, _user, hznctl_bin
from tests.support import REPO, make_age_key, start_redis, start_supervisord

PHP = shutil.which("php")
LARAVEL = Path("/usr/share/php/Illuminate/autoload.php")
LARAVEL_DOC = REPO / "docs" / "runtimes" / "laravel.md"

RQ_TASKS = '''
import os
import time

from rq import get_current_job


def record(token):
    conn = get_current_job().connection
    conn.rpush("results", token)
    conn.rpush("workers", os.environ.get("RQ_WORKER_ID", "?"))


def slow(token, seconds):
    conn = get_current_job().connection
    conn.rpush("started", token)
    time.sleep(seconds)
    conn.rpush("results", token)


def tick():
    get_current_job().connection.rpush("ticks", "tick")
'''

# rq cron's configuration (rq/cron.py: register, load_config_from_file): a tick a second.
RQ_CRON = '''
from rq import cron

import tasks

cron.register(tasks.tick, queue_name="low", interval=1)
'''

CELERY_TASKS = '''
import json
import os
import time

import redis
from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

app = Celery("tasks", broker=os.environ["CELERY_BROKER_URL"])
app.conf.worker_hijack_root_logger = False
store = redis.Redis.from_url(os.environ["REDIS_URL"])


@app.task(name="tasks.record")
def record(token):
    store.rpush("results", token)
    store.rpush("workers", os.getpid())


@app.task(name="tasks.slow")
def slow(token, seconds):
    store.rpush("started", token)
    try:
        time.sleep(seconds)
    except SoftTimeLimitExceeded:
        store.rpush("soft", token)
        time.sleep(seconds)
    store.rpush("results", token)


app.conf.beat_schedule = {
    "tick": {"task": "tasks.tick", "schedule": 1.0, "options": {"queue": "low"}},
}


@app.task(name="tasks.tick")
def tick():
    store.rpush("ticks", "tick")


@app.task(name="tasks.settings")
def settings():
    store.set("transport_options", json.dumps(app.conf.broker_transport_options))
'''

LARAVEL_ARTISAN = r'''<?php
require '/usr/share/php/Illuminate/autoload.php';
spl_autoload_register(function ($class) {
    if (strncmp($class, 'App\\', 4) === 0) {
        require __DIR__.'/app/'.str_replace('\\', '/', substr($class, 4)).'.php';
    }
});
$app = new Illuminate\Foundation\Application(__DIR__);
$app->singleton(Illuminate\Contracts\Console\Kernel::class,
                Illuminate\Foundation\Console\Kernel::class);
$app->singleton(Illuminate\Contracts\Debug\ExceptionHandler::class,
                Illuminate\Foundation\Exceptions\Handler::class);
$kernel = $app->make(Illuminate\Contracts\Console\Kernel::class);
$status = $kernel->handle($input = new Symfony\Component\Console\Input\ArgvInput,
                          new Symfony\Component\Console\Output\ConsoleOutput);
$kernel->terminate($input, $status);
exit($status);
'''

LARAVEL_CONFIG = {
    "app.php": r'''<?php
return [
    'name' => 'hznctl-test', 'env' => 'testing', 'debug' => true,
    'key' => 'base64:'.base64_encode(str_repeat('k', 32)), 'cipher' => 'AES-256-CBC',
    'timezone' => 'UTC', 'locale' => 'en',
    'providers' => [
        Illuminate\Bus\BusServiceProvider::class,
        Illuminate\Cache\CacheServiceProvider::class,
        Illuminate\Foundation\Providers\ConsoleSupportServiceProvider::class,
        Illuminate\Database\DatabaseServiceProvider::class,
        Illuminate\Filesystem\FilesystemServiceProvider::class,
        Illuminate\Queue\QueueServiceProvider::class,
        Illuminate\Redis\RedisServiceProvider::class,
        Illuminate\Encryption\EncryptionServiceProvider::class,
    ],
];
''',
    "cache.php": "<?php\nreturn ['default' => 'array', 'stores' => ['array' => "
                 "['driver' => 'array']], 'prefix' => 'c'];\n",
    "logging.php": "<?php\nreturn ['default' => 'stderr', 'channels' => ['stderr' => "
                   "['driver' => 'monolog', 'handler' => Monolog\\Handler\\StreamHandler::class,"
                   " 'with' => ['stream' => 'php://stderr']]]];\n",
}

# A job in Laravel's own payload format, handled as `Class@method` (Illuminate\Queue\Jobs\
# Job::fire): it records what it sees, sleeps if asked, and deletes itself when done.
LARAVEL_JOB = r'''<?php
namespace App;

class Record
{
    public function handle($job, $data)
    {
        $redis = app('redis')->connection();
        $redis->rpush('started', $data['token']);
        $redis->rpush('workers', getmypid());
        if (!empty($data['settings'])) {
            $reserved = $redis->zrange('queues:'.$job->getQueue().':reserved', 0, -1,
                                       ['withscores' => true]);
            $redis->set('settings', json_encode([
                'retry_after' => config('queue.connections.redis.retry_after'),
                'reserved_for' => (int) round(reset($reserved) - time()),
            ]));
        }
        if (!empty($data['seconds'])) {
            sleep($data['seconds']);
        }
        $redis->rpush('results', $data['token']);
        $job->delete();
    }
}
'''


def php_snippet(name: str) -> str:
    """The ``config/<name>`` snippet of docs/runtimes/laravel.md."""
    text = LARAVEL_DOC.read_text()
    for block in re.findall(r"```php\n(.*?)```", text, flags=re.S):
        if block.splitlines()[1].startswith(f"// config/{name}:"):
            return str(block)
    raise LookupError(name)


def write_laravel_app(root: Path) -> None:
    """A minimal Laravel application on Debian's framework, with the docs' config files."""
    (root / "app").mkdir(parents=True)
    for folder in ("config", "bootstrap/cache", "storage/logs", "storage/framework"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "artisan").write_text(LARAVEL_ARTISAN)
    for name, text in LARAVEL_CONFIG.items():
        (root / "config" / name).write_text(text)
    for name in ("queue.php", "database.php"):
        (root / "config" / name).write_text(php_snippet(name))
    (root / "app" / "Record.php").write_text(LARAVEL_JOB)


def laravel_push(client: Any, queue: str, token: str, **data: Any) -> None:
    """Push a job onto a Laravel Redis queue as Laravel's RedisQueue::push writes it."""
    job_id = str(uuid.uuid4())
    payload = {"uuid": job_id, "displayName": "App\\Record", "job": "App\\Record@handle",
               "maxTries": None, "maxExceptions": None, "backoff": None, "timeout": None,
               "data": {"token": token, **data}, "id": job_id, "attempts": 0}
    client.rpush(f"queues:{queue}", json.dumps(payload))


def runtime_site(tmp: Path, app: dict[str, Any], files: dict[str, str],
                 program: dict[str, Any] | None = None) -> Iterator[Site]:
    """One application (``app``, without the common fields) on a host whose supervisord
    runs here, with one password-protected Redis; ``files`` are written into its folder;
    ``program``: the host's supervisord options of every program."""
    redis = start_redis(tmp, password="pw-1")
    sup = start_supervisord(tmp)
    try:
        app_dir = tmp / "app"
        app_dir.mkdir(exist_ok=True)
        for name, text in files.items():
            (app_dir / name).write_text(text)
        inv = tmp / "inventory"
        host_key = make_age_key(tmp / "keys" / "host.agekey")
        runner_key = make_age_key(tmp / "keys" / "runner.agekey")
        _dump(inv / "project.yaml", {
            "name": "runtimes", "environments": ["test"], "stop_margin": 3,
            "health": {"recipients": [runner_key.recipient]}})
        _dump(inv / "hosts" / "test-host.yaml", {
            "name": "test-host", "environment": "test", "age_recipient": host_key.recipient,
            # The test's folders are in the temp dir and its workers run as this user (root
            # in CI): the host allows both, as an admin would for such a machine.
            "privileges": {"root": os.getuid() == 0, "paths": [str(tmp)]},
            "supervisord": {"url": sup.url, "include_dir": str(sup.include_dir),
                            "state_dir": str(tmp / "state"), "log_dir": str(tmp / "log"),
                            "age_key_file": str(host_key.path), "hznctl_bin": hznctl_bin(),
                            **({"program": program} if program else {})}})
        _dump(inv / "connections" / "redis-a.yaml", {
            "name": "redis-a", "host": "127.0.0.1", "port": redis.port, "environment": "test",
            "password": {"sops": "secrets/redis-a.yaml", "key": "password"}})
        site = Site(tmp, inv, tmp / "out", sup, tmp / "state", host_key, runner_key,
                    {"redis-a": redis}, {})
        site.set_password("redis-a", redis.password or "")
        site.apps[app["slug"]] = {
            "name": app["slug"].title(), "environment": "test", "directory": str(app_dir),
            "user": _user(), "connections": [{"connection": "redis-a", "primary": True}],
            **app}
        site.write_app(app["slug"])
        yield site
    finally:
        sup.stop()
        redis.stop()


def states(site: Site, group: str) -> list[str]:
    return [p["statename"] for p in site.sup.processes() if p["group"] == group]
