"""`hznctl exec` under a real supervisord, against a real redis-server with a password."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import make_age_key, sops_encrypt, venv_bin, wait_for

pytestmark = pytest.mark.integration

PASSWORD = "ex:ec@pa/ss#w%rd?&=+ é"

WORKER = textwrap.dedent("""
    import hashlib, json, os, signal, sys, time
    import redis
    out = sys.argv[1]
    def on_term(signum, frame):
        with open(out + ".term", "w") as handle:
            handle.write(str(os.getpid()))
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)
    report = {
        "pid": os.getpid(),
        "ping": client.ping(),
        "password_sha256": hashlib.sha256(os.environ["REDIS_PASSWORD"].encode()).hexdigest(),
        "queue": os.environ.get("QUEUE"),
        "sops_age_key": "SOPS_AGE_KEY" in os.environ,
        "argv": sys.argv[1:],
    }
    with open(out + ".tmp", "w") as handle:
        json.dump(report, handle)
    os.replace(out + ".tmp", out)
    while True:
        time.sleep(0.05)
""")


def write_spec(tmp: Path, *, key_file: Path, secret: Path, port: int, name: str = "w") -> Path:
    spec = {
        "format": 1,
        "identity_file": str(key_file),
        "env": {"QUEUE": "default"},
        "secrets": {"REDIS_PASSWORD": {"file": str(secret), "key": "password",
                                       "sha256": hashlib.sha256(secret.read_bytes()).hexdigest()}},
        "urls": {"REDIS_URL": {"host": "127.0.0.1", "port": port, "database": 3,
                               "username": "default", "password_env": "REDIS_PASSWORD"}},
    }
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(spec))
    return path


def program(sup, tmp: Path, name: str, spec: Path, *, environment: str = "") -> Path:
    worker = tmp / "worker.py"
    worker.write_text(WORKER)
    out = tmp / f"{name}.report"
    (sup.include_dir / f"{name}.conf").write_text(textwrap.dedent(f"""
        [program:{name}]
        command={venv_bin('hznctl')} exec --spec {spec} -- {sys.executable} {worker} {out}
        autostart=true
        autorestart=false
        startsecs=0
        startretries=0
        stopsignal=TERM
        stopwaitsecs=10
        stdout_logfile={tmp}/{name}.out
        stderr_logfile={tmp}/{name}.err
        environment=HOME="{tmp}",SOPS_AGE_KEY="AGE-SECRET-KEY-1LEAKED"{environment}
    """))
    rpc = sup.rpc()
    rpc.supervisor.reloadConfig()
    rpc.supervisor.addProcessGroup(name)
    return out


@pytest.fixture
def setup(tmp_path, redis_factory):
    server = redis_factory()
    server.client().config_set("requirepass", PASSWORD)
    host_key = make_age_key(tmp_path / "host.agekey")
    other_key = make_age_key(tmp_path / "other.agekey")
    secret = sops_encrypt({"password": PASSWORD}, [host_key.recipient], tmp_path / "s.yaml")
    return server, host_key, other_key, secret


def test_worker_becomes_the_supervised_process_with_its_secrets(tmp_path, supervisord, setup):
    server, host_key, _other, secret = setup
    spec = write_spec(tmp_path, key_file=host_key.path, secret=secret, port=server.port)
    out = program(supervisord, tmp_path, "w", spec)
    report = json.loads(wait_for(lambda: out.exists() and out.read_text(), timeout=20,
                                 what="worker report"))
    info = supervisord.rpc().supervisor.getProcessInfo("w")
    assert info["statename"] == "RUNNING"
    # exec replaced hznctl: the process supervisord started IS the worker.
    assert report["pid"] == info["pid"]
    assert report["ping"] is True
    assert report["password_sha256"] == hashlib.sha256(PASSWORD.encode()).hexdigest()
    assert report["queue"] == "default" and report["argv"] == [str(out)]
    assert report["sops_age_key"] is False  # private key material never reaches the worker
    cmdline = Path(f"/proc/{info['pid']}/cmdline").read_bytes()
    assert PASSWORD.encode() not in cmdline and b"exec:ec" not in cmdline
    supervisord.rpc().supervisor.stopProcess("w")
    marker = tmp_path / "w.report.term"
    assert wait_for(lambda: marker.exists(), timeout=10, what="SIGTERM marker")
    assert marker.read_text() == str(info["pid"])


def test_wrong_key_fails_clearly_without_the_secret(tmp_path, supervisord, setup):
    server, _host, other_key, secret = setup
    spec = write_spec(tmp_path, key_file=Path("/nonexistent/key"), secret=secret,
                      port=server.port, name="bad")
    program(supervisord, tmp_path, "bad", spec,
            environment=f',HZNCTL_AGE_KEY_FILE="{other_key.path}"')

    def failed():
        info = supervisord.rpc().supervisor.getProcessInfo("bad")
        return info if info["statename"] in ("EXITED", "FATAL", "BACKOFF") else None

    info = wait_for(failed, timeout=20, what="failed worker")
    assert info["exitstatus"] == 1
    err = (tmp_path / "bad.err").read_text()
    assert "none of the age identities" in err and str(other_key.path) in err
    assert PASSWORD not in err and "Traceback" not in err
    assert not (tmp_path / "bad.report").exists()


def run_exec(args, env=None):
    import subprocess

    return subprocess.run([venv_bin("hznctl"), "exec", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)


def test_exec_errors(tmp_path, setup):
    server, host_key, _other_key, secret = setup
    spec = write_spec(tmp_path, key_file=host_key.path, secret=secret, port=server.port)
    missing_key = run_exec(["--spec", str(spec), "--", "true"],
                           {"HZNCTL_AGE_KEY_FILE": str(tmp_path / "absent.agekey")})
    assert missing_key.returncode == 1 and "absent.agekey does not exist" in missing_key.stderr
    tampered = tmp_path / "t.yaml"
    tampered.write_text(secret.read_text().replace("lastmodified: \"", "lastmodified: \"1"))
    text = tampered.read_text()
    stamp = text.split('lastmodified: "1', 1)[1].split('"', 1)[0]
    tampered.write_text(text.replace(f'"1{stamp}"', '"2001-01-01T00:00:00Z"'))
    spec_t = write_spec(tmp_path, key_file=host_key.path, secret=tampered, port=server.port,
                        name="t")
    mac = run_exec(["--spec", str(spec_t), "--", "true"])
    assert mac.returncode == 1 and "MAC mismatch" in mac.stderr and PASSWORD not in mac.stderr
    no_argv = run_exec(["--spec", str(spec)])
    assert no_argv.returncode == 2 and "nothing to run" in no_argv.stderr
    not_found = run_exec(["--spec", str(spec), "--", str(tmp_path / "no-such-worker")])
    assert not_found.returncode == 127 and "cannot start the worker" in not_found.stderr
    bad_spec = tmp_path / "bad.json"
    bad_spec.write_text('{"format": 1}')
    invalid = run_exec(["--spec", str(bad_spec), "--", "true"])
    assert invalid.returncode == 1 and "identity_file" in invalid.stderr
    for result in (missing_key, mac, no_argv, not_found, invalid):
        assert PASSWORD not in result.stdout + result.stderr


def test_redis_url_percent_encoding():
    from urllib.parse import unquote, urlsplit

    from hznctl.execspec import RedisUrl
    from hznctl.secrets.worker_env import redis_url

    url = redis_url(RedisUrl(host="::1", port=6380, database=2, username="a@b", tls=True,
                             password_env="P"), {"P": PASSWORD})
    parts = urlsplit(url)
    assert parts.scheme == "rediss" and parts.hostname == "::1" and parts.port == 6380
    assert unquote(parts.password) == PASSWORD and unquote(parts.username) == "a@b"
    assert parts.path == "/2"
    assert redis_url(RedisUrl(host="h", port=1), {}) == "redis://h:1/0"
    assert redis_url(RedisUrl(host="h", port=1, password_env="P"), {"P": "x"}) == \
        "redis://:x@h:1/0"
