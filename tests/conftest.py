from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.support import (
    DEMO_KEYS,
    EXAMPLE_INVENTORY,
    RedisServer,
    Supervisord,
    start_redis,
    start_supervisord,
)


@pytest.fixture(autouse=True)
def _nothing_decrypted_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts in a process that has decrypted no secret: hznctl redacts every
    value it decrypted from all it shows, so a password one test decrypts in this worker
    ("nope") would otherwise be redacted from a later test's output."""
    from hznctl import redact

    monkeypatch.setattr(redact, "_PROCESS", redact.Redactor())


@pytest.fixture
def example_inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the example inventory, safe to edit.

    Its cluster-eu encrypts Secrets at compile time: compile reads the inventory's secrets
    with the demo copy of cluster-eu's key, as `make run` does (a test that wants no key
    passes its own HZNCTL_AGE_KEY_FILE).
    """
    dest = tmp_path / "inventory"
    shutil.copytree(EXAMPLE_INVENTORY, dest)
    monkeypatch.setenv("HZNCTL_AGE_KEY_FILE", str(DEMO_KEYS / "cluster-eu.agekey"))
    return dest


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run hznctl in-process through the real entry point; returns click's Result."""
    from hznctl.cli.main import main

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(_as_command(main), list(args), input=input, env=env,
                             catch_exceptions=False)

    return run


def _as_command(main: Callable[..., Any]) -> Any:
    import click

    @click.command(context_settings={"ignore_unknown_options": True,
                                     "allow_extra_args": True, "help_option_names": []})
    @click.pass_context
    def wrapper(ctx: click.Context) -> None:
        main(list(ctx.args))

    return wrapper


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    servers: list[RedisServer] = []

    def start(**kwargs: Any) -> RedisServer:
        server = start_redis(tmp_path, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def supervisord(tmp_path: Path) -> Iterator[Supervisord]:
    sup = start_supervisord(tmp_path)
    yield sup
    sup.stop()
