"""A connection's TLS settings reach every runtime's client: the URL `hznctl exec` builds
(ssl_cert_reqs, ssl_ca_certs) opens a real TLS-only redis-server with redis-py (as rq uses
it) and kombu (Celery's broker), and the docs' config/database.php with the exported
REDIS_SCHEME, REDIS_CA_FILE and REDIS_SERVER_NAME connects Laravel's phpredis."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from hznctl.execspec import ExecSpec, RedisUrl
from hznctl.secrets.worker_env import build_environment
from tests.integration.runtime_apps import LARAVEL, PHP, php_snippet
from tests.integration.test_health_tls import CERT_NAME, make_pki, start_tls_redis

pytestmark = pytest.mark.integration


@pytest.fixture
def tls_redis(tmp_path: Path):
    pki = make_pki(tmp_path / "pki")
    server = start_tls_redis(tmp_path / "redis", pki)
    yield server, pki
    server.stop()


def _url(port: int, ca: Path | None) -> str:
    spec = ExecSpec(identity_file="/nonexistent", urls={"RQ_REDIS_URL": RedisUrl(
        tls=True, host="127.0.0.1", port=port, ca_file=str(ca) if ca else None)})
    return build_environment(spec, {}).env["RQ_REDIS_URL"]


def test_the_workers_url_carries_the_ca_file(tls_redis):
    import redis
    from kombu import Connection

    server, pki = tls_redis
    url = _url(server.port, pki.ca)
    assert url.startswith("rediss://127.0.0.1:") and "ssl_cert_reqs=required" in url
    client = redis.Redis.from_url(url, socket_timeout=5)
    assert client.ping()
    client.close()
    with Connection(url, connect_timeout=5) as broker:
        assert broker.default_channel.client.ping()
    wrong = redis.Redis.from_url(_url(server.port, pki.other_ca), socket_timeout=5)
    with pytest.raises(redis.exceptions.ConnectionError):
        wrong.ping()


@pytest.mark.skipif(PHP is None or not LARAVEL.exists(),
                    reason="php-cli and php-laravel-framework are not installed")
def test_laravels_database_config_connects_with_the_exported_tls_settings(tls_redis, tmp_path):
    server, pki = tls_redis
    config = tmp_path / "database.php"
    config.write_text(php_snippet("database.php"))
    code = (f"require {str(LARAVEL)!r}; $config = require {str(config)!r};"
            "$redis = new Illuminate\\Redis\\RedisManager(null, 'phpredis', $config['redis']);"
            "echo json_encode($redis->connection()->ping());")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
    env |= {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(server.port), "REDIS_SCHEME": "tls",
            "REDIS_TLS_VERIFY": "1", "REDIS_CA_FILE": str(pki.ca),
            "REDIS_SERVER_NAME": CERT_NAME}
    done = subprocess.run([str(PHP), "-r", code], capture_output=True, text=True, env=env,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) in (True, "+PONG", "PONG")
    env["REDIS_CA_FILE"] = str(pki.other_ca)  # the CA file is what the check uses
    done = subprocess.run([str(PHP), "-r", code], capture_output=True, text=True, env=env,
                          timeout=60, check=False)
    assert done.returncode != 0
