"""Recognising worker commands in every spelling the runtimes accept."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hznctl.importer.commands import recognise
from hznctl.models import Runtime

CASES = [
    # Celery: -A before or after `worker`, short and long spellings, attached values.
    ("celery -A proj worker -Q a,b -c 4", Runtime.CELERY,
     {"queues": ["a", "b"], "min_processes": 4, "max_processes": 4}),
    ("celery worker -A proj --queues=a,b --concurrency=4", Runtime.CELERY,
     {"queues": ["a", "b"], "max_processes": 4}),
    ("celery --app=proj worker -Qa,b -c4 --time-limit=300", Runtime.CELERY,
     {"queues": ["a", "b"], "max_processes": 4, "timeout": 300}),
    ("/venv/bin/python -m celery -A proj worker --autoscale=10,3", Runtime.CELERY,
     {"balance": "auto", "max_processes": 10, "min_processes": 3, "queues": ["celery"]}),
    ("celery -A proj worker --max-memory-per-child=262144 --max-tasks-per-child 50",
     Runtime.CELERY, {"memory": 256, "max_jobs": 50, "timeout": 3590}),
    # RQ: the rq CLI, rqworker, python -m rq.cli; queues are positional.
    ("rq worker high default low", Runtime.RQ, {"queues": ["high", "default", "low"]}),
    ("rqworker --max-jobs 10 high", Runtime.RQ, {"queues": ["high"], "max_jobs": 10}),
    ("/venv/bin/python -m rq.cli worker -u redis://h:6379/1 exports", Runtime.RQ,
     {"queues": ["exports"], "timeout": 180}),
    ("rq worker", Runtime.RQ, {"queues": ["default"]}),
    # Laravel: --queue=a,b and --queue a,b; horizon.
    ("php artisan queue:work redis --queue=a,b --tries=3 --timeout=30", Runtime.LARAVEL_QUEUE,
     {"queues": ["a", "b"], "tries": 3, "timeout": 30}),
    ("/usr/bin/php8.2 /srv/app/artisan queue:work --queue a --sleep 0.5 --backoff=5,10",
     Runtime.LARAVEL_QUEUE, {"queues": ["a"], "sleep": 0.5, "backoff": [5, 10]}),
    ("php artisan horizon", Runtime.LARAVEL_HORIZON, {}),
    # Wrappers around the real command.
    ("nice -n 5 php artisan queue:work --queue=a", Runtime.LARAVEL_QUEUE,
     {"queues": ["a"], "nice": 5}),
    ("/bin/bash -c 'exec celery -A proj worker -Q x'", Runtime.CELERY, {"queues": ["x"]}),
    ("env FOO=bar rq worker q", Runtime.RQ, {"queues": ["q"], "env": {"FOO": "bar"}}),
    # Anything else is the command runtime.
    ("python manage.py process_tasks", Runtime.COMMAND, {"queues": ["default"]}),
    ("/bin/sh -c 'cd /srv && ./run.sh | tee log'", Runtime.COMMAND, {}),
    ("celery -A proj beat", Runtime.COMMAND, {}),
]


@pytest.mark.parametrize(("command", "runtime", "expected"), CASES)
def test_every_spelling_is_recognised(command, runtime, expected):
    found = recognise(shlex.split(command))
    assert found.runtime is runtime
    for key, value in expected.items():
        assert found.worker[key] == value, key


def test_paths_and_urls_are_kept():
    found = recognise(shlex.split("/srv/app/venv/bin/rq worker -u redis://:pw@h:6380/2 q"))
    assert found.executable == "/srv/app/venv/bin/rq"
    assert found.urls == ["redis://:pw@h:6380/2"]
    laravel = recognise(shlex.split("php /srv/shop/current/artisan queue:work"))
    assert laravel.directory == "/srv/shop/current"
    celery = recognise(shlex.split("celery --app=shop.tasks worker -b redis://r:6379/0"))
    assert celery.app_module == "shop.tasks" and celery.urls == ["redis://r:6379/0"]


def test_options_that_cannot_be_expressed_are_said():
    found = recognise(shlex.split("rq worker --with-scheduler --burst --frobnicate q"))
    notes = " ".join(found.notes)
    assert "with-scheduler" in notes and "burst" in notes and "--frobnicate" in notes
    beat = recognise(shlex.split("celery -A p worker -B"))
    assert any("beat" in n for n in beat.notes)


_LARAVEL_OPTIONS = {"tries": st.integers(0, 20), "timeout": st.integers(1, 3600),
                    "memory": st.integers(16, 4096), "max_jobs": st.integers(0, 10_000),
                    "max_time": st.integers(0, 86_400)}


@settings(max_examples=60, deadline=None)
@given(options=st.fixed_dictionaries({}, optional=_LARAVEL_OPTIONS),
       queues=st.lists(st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True), min_size=1,
                       max_size=4, unique=True),
       order=st.randoms(use_true_random=False), joined=st.booleans())
def test_laravel_options_read_the_same_in_any_order_and_spelling(options, queues, order,
                                                                  joined):
    words = [f"--queue={','.join(queues)}" if joined else "--queue", *(
        [] if joined else [",".join(queues)])]
    pairs = [[f"--{k.replace('_', '-')}={v}"] if joined else [f"--{k.replace('_', '-')}",
                                                              str(v)]
             for k, v in options.items()]
    pairs.append(words)
    order.shuffle(pairs)
    found = recognise(["php", "artisan", "queue:work", *[w for p in pairs for w in p]])
    assert found.runtime is Runtime.LARAVEL_QUEUE
    assert found.worker == {"queues": queues, **options}
