"""Each ScaledObject counts the lists that real queue clients write, in a real redis-server.

KEDA's redis scaler runs LLEN on each trigger's ``listName``: a name that is not the
runtime's real key counts nothing, and the group never scales. The clients here are the
real ones: rq's ``Queue.enqueue``, Celery's ``send_task`` through kombu's Redis transport
(``kombu/transport/redis.py``: ``Channel._put`` pushes to ``_q_for_pri(queue, pri)``, one
list per priority step), and phpredis with Laravel's prefix, pushing as
``Illuminate/Queue/RedisQueue.php`` does (``pushRaw``: ``eval(LuaScripts::push(), 2,
$queue, $queue.':notify', $payload)`` with ``$queue = getQueue() = 'queues:'.$name``;
the connection's ``options.prefix`` is applied by the client to every key of the eval).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.kubernetes.support import build, documents

pytestmark = pytest.mark.integration

LUA_PUSH = ("redis.call('rpush', KEYS[1], ARGV[1]) "
            "redis.call('rpush', KEYS[2], 1)")  # LuaScripts::push()


def _scaled_objects() -> dict[str, dict]:
    tree = build()
    found = {}
    for rel, data in tree.files.items():
        for document in documents(data) if rel.startswith("autoscaling/") else []:
            if document["kind"] == "ScaledObject":
                found[document["metadata"]["name"]] = document
    return found


def _list_names(scaled: dict) -> set[str]:
    return {t["metadata"]["listName"] for t in scaled["spec"]["triggers"]}


def _lists(client) -> set[str]:
    return {k.decode() for k in client.keys("*") if client.type(k) == b"list"}


def test_rq_lists(redis_factory):
    from rq import Queue

    scaled = _scaled_objects()["reports-exports"]
    server = redis_factory()
    client = server.client()
    for queue in ("exports-high", "exports"):
        Queue(queue, connection=client).enqueue("builtins.print", "job")
    assert _lists(client) == _list_names(scaled)


def test_celery_lists_of_every_priority(redis_factory):
    from celery import Celery

    scaled = _scaled_objects()["search-indexing"]
    server = redis_factory()
    app = Celery("search", broker=f"redis://{server.host}:{server.port}/0")
    try:
        with app.connection_for_write() as connection:
            for queue in ("index-high", "index"):
                for priority in range(10):
                    app.send_task("indexer.reindex", queue=queue, priority=priority,
                                  connection=connection)
    finally:
        app.close()
    written = {k for k in _lists(server.client()) if not k.startswith("_kombu")}
    assert len(written) == 8  # two queues, four priority steps each
    assert written == _list_names(scaled)
    formula = scaled["spec"]["advanced"]["scalingModifiers"]["formula"]
    assert formula.split(" + ") == [t["name"] for t in scaled["spec"]["triggers"]]


@pytest.mark.skipif(shutil.which("php") is None, reason="php-cli")
def test_laravel_lists_with_the_application_prefix(redis_factory, tmp_path: Path):
    probe = subprocess.run(["php", "-r", "exit(extension_loaded('redis') ? 0 : 3);"],
                           capture_output=True, timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip("php's redis extension (php-redis)")
    scaled = _scaled_objects()["mailer-mail"]
    server = redis_factory()
    script = tmp_path / "push.php"
    script.write_text(
        "<?php\n$r = new Redis();\n$r->connect('127.0.0.1', (int) $argv[1]);\n"
        "$r->setOption(Redis::OPT_PREFIX, $argv[2]);\n"
        "foreach (array_slice($argv, 3) as $name) {\n"
        "  $queue = 'queues:' . $name;\n"
        f"  $r->eval(\"{LUA_PUSH}\", [$queue, $queue . ':notify', '{{}}'], 2);\n"
        "}\n")
    subprocess.run(["php", str(script), str(server.port), "mailer_database_", "mail",
                    "mail-bulk"], check=True, timeout=60)
    waiting = {k for k in _lists(server.client()) if not k.endswith(":notify")}
    assert waiting == {"mailer_database_queues:mail", "mailer_database_queues:mail-bulk"}
    assert waiting == _list_names(scaled)
