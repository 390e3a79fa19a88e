"""`hznctl health` over TLS against a real TLS-only redis-server.

A throwaway CA and a server certificate (localhost, 127.0.0.1, redis.hznctl.test) are
made in the test. One run probes the server with the right CA, with another CA, by its
certificate name through ``server_name``, with a name the certificate does not hold, and
without TLS: each gets its status, with a reason and never a traceback.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.health_support import Conn, statuses, write_inventory
from tests.support import RedisServer, free_port, make_age_key, wait_for

pytestmark = pytest.mark.integration

CERT_NAME = "redis.hznctl.test"
CHECK_TIMEOUT = 2.0


@dataclass
class Pki:
    ca: Path
    other_ca: Path
    cert: Path
    key: Path


def _key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(cert.public_bytes(serialization.Encoding.PEM))


def _certificate(subject: str, key: Any, issuer: str, issuer_key: Any, *, ca: bool,
                 names: list[Any] | None = None) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject))
               .issuer_name(_name(issuer)).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True,
            content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(folder: Path) -> Pki:
    """A CA, an unrelated second CA and a server certificate signed by the first."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    folder.mkdir(parents=True, exist_ok=True)
    ca_key, other_key, server_key = _key(), _key(), _key()
    ca = _certificate("hznctl test CA", ca_key, "hznctl test CA", ca_key, ca=True)
    other = _certificate("hznctl other CA", other_key, "hznctl other CA", other_key, ca=True)
    server = _certificate(CERT_NAME, server_key, "hznctl test CA", ca_key, ca=False, names=[
        x509.DNSName("localhost"), x509.DNSName(CERT_NAME),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    pki = Pki(folder / "ca.pem", folder / "other-ca.pem", folder / "server.pem",
              folder / "server.key")
    pki.ca.write_bytes(_pem(ca))
    pki.other_ca.write_bytes(_pem(other))
    pki.cert.write_bytes(_pem(server))
    pki.key.write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    pki.key.chmod(0o600)
    return pki


def _tls_ping(port: int, ca: Path) -> bool:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(ca),
                         socket_timeout=2, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    finally:
        client.close()


def start_tls_redis(folder: Path, pki: Pki) -> RedisServer:
    """A redis-server that listens only on a TLS port (``--port 0``)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "redis.log"
    process = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(pki.cert), "--tls-key-file", str(pki.key),
         "--tls-ca-cert-file", str(pki.ca), "--tls-auth-clients", "no",
         "--save", "", "--appendonly", "no", "--dir", str(folder), "--daemonize", "no",
         "--logfile", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    server = RedisServer(port, None, process, folder)
    try:
        wait_for(lambda: process.poll() is not None or _tls_ping(port, pki.ca), timeout=10,
                 what=f"TLS redis-server on port {port}")
    except TimeoutError:
        server.stop()
        raise
    if process.poll() is not None:  # it exited: a build without TLS refuses --tls-port
        output = (process.stdout.read() if process.stdout else b"").decode(errors="replace")
        reason = " ".join((output + (log.read_text() if log.exists() else "")).split())
        if "tls" in reason.lower():
            pytest.skip(f"this redis-server was built without TLS: {reason[-200:]}")
        raise RuntimeError(f"TLS redis-server exited: {reason[-300:]}")
    return server


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[RedisServer, Pki]]:
    pki = make_pki(tmp_path / "pki")
    server = start_tls_redis(tmp_path / "redis-tls", pki)
    yield server, pki
    server.stop()


def _set_tls(inventory: Path, settings: dict[str, dict[str, Any]]) -> None:
    """Add each connection's ``tls`` block to the files write_inventory made."""
    for name, tls in settings.items():
        path = inventory / "connections" / f"{name}.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["tls"] = tls
        path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_health_over_tls_verifies_the_server_certificate(
        tmp_path: Path, cli, tls_server) -> None:  # type: ignore[no-untyped-def]
    server, pki = tls_server
    runner = make_age_key(tmp_path / "runner.agekey")
    names = ["trusted", "by-name", "other-ca", "wrong-name", "plain", "unverified"]
    inventory = write_inventory(tmp_path / "inventory", runner,
                                [Conn(name, server.port) for name in names],
                                check_timeout=CHECK_TIMEOUT, deadline=5)
    _set_tls(inventory, {
        "trusted": {"enabled": True, "verify": True, "ca_file": str(pki.ca)},
        # 127.0.0.1 is dialled; the certificate is checked against server_name.
        "by-name": {"enabled": True, "ca_file": str(pki.ca), "server_name": CERT_NAME},
        "other-ca": {"enabled": True, "verify": True, "ca_file": str(pki.other_ca)},
        "wrong-name": {"enabled": True, "ca_file": str(pki.ca),
                       "server_name": "elsewhere.hznctl.test"},
        "plain": {"enabled": False},
        "unverified": {"enabled": True, "verify": False, "ca_file": str(pki.other_ca)},
    })
    started = time.monotonic()
    result = cli("health", str(inventory), "--out", str(tmp_path / "out"),
                 "--format", "json", env={"HZNCTL_AGE_KEY_FILE": "", "SOPS_AGE_KEY_FILE": ""})
    elapsed = time.monotonic() - started

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert elapsed < CHECK_TIMEOUT + 1.5, f"the run took {elapsed:.2f} s"
    report = json.loads(result.output)
    found = statuses(report)
    assert {name: found[name] for name in ("trusted", "by-name", "unverified")} == {
        "trusted": "ok", "by-name": "ok", "unverified": "ok"}
    by_name = {c["connection"]: c for c in report["connections"]}
    for name in ("trusted", "by-name"):
        timings = by_name[name]["timings"]
        assert len(timings["latency_samples_ms"]) == 3
        assert 0 < timings["latency_p50_ms"] < CHECK_TIMEOUT * 1000
        assert by_name[name]["server"]["version"].startswith("7.")

    for name in ("other-ca", "wrong-name", "plain"):
        assert found[name] in ("down", "error"), (name, by_name[name])
        assert by_name[name]["duration_ms"] < (CHECK_TIMEOUT + 0.5) * 1000
        assert "Traceback" not in by_name[name]["message"]
    for name in ("other-ca", "wrong-name"):  # the server answered; we refused to trust it
        assert found[name] == "error", by_name[name]
        assert by_name[name]["message"].startswith("TLS certificate failed verification: ")
    assert "certificate" in by_name["other-ca"]["message"].removeprefix("TLS certificate")
    assert "Hostname mismatch" in by_name["wrong-name"]["message"]
    assert "elsewhere.hznctl.test" in by_name["wrong-name"]["message"]
    assert found["plain"] == "down"
    assert "unreachable" in by_name["plain"]["message"]


def test_the_test_ca_really_signs_the_server_certificate(tls_server) -> None:  # type: ignore[no-untyped-def]
    """The failing cases above fail for the CA and the name, not for a broken certificate:
    the standard library trusts the server with the test CA and by its certificate name,
    and rejects it with the other CA."""
    server, pki = tls_server
    assert _handshake(server.port, pki.ca, CERT_NAME)
    assert _handshake(server.port, pki.ca, "127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server.port, pki.other_ca, CERT_NAME)


def _handshake(port: int, ca: Path, name: str) -> str | None:
    context = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=2) as raw, \
            context.wrap_socket(raw, server_hostname=name) as tls:
        return tls.version()
