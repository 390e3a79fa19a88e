"""A small XML-RPC client for supervisord: unix socket, or HTTP(S) with credentials.

Every call has a socket timeout (supervisor's own transport has none, so a stopped
supervisord would hang a deploy forever), and every failure becomes a `SupervisorError`
with a sentence that names the address — never the password. The wire is
``hznctl.deploy.xmlrpc``'s (no `http.client`, no supervisor import).
"""

from __future__ import annotations

import socket
import urllib.parse
import xml.etree.ElementTree as ElementTree
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, cast

from hznctl.deploy import xmlrpc
from hznctl.errors import HznctlError

# Fault codes of supervisor.xmlrpc.Faults used here.
BAD_NAME = 10
ALREADY_ADDED = 90
STILL_RUNNING = 91
CANT_REREAD = 92

# Above this many processes one full listing is cheaper than a multicall.
MULTICALL_LIMIT = 50


class SupervisorError(HznctlError):
    """supervisord could not be reached or refused a call (``fault``: its fault code)."""

    def __init__(self, message: str, fault: int | None = None) -> None:
        super().__init__(message)
        self.fault = fault


class ConfigUnreadable(SupervisorError):
    """supervisord cannot re-read its configuration (an unparsable file blocks every reload)."""


@dataclass(frozen=True)
class Address:
    url: str
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


def _connection(address: Address) -> xmlrpc.Connection:
    """The connection for ``address``: a unix socket, TCP, or TLS (certificate and host
    name verified against the system's trust store, as xmlrpc.client's HTTPS does)."""
    url, timeout = address.url, address.timeout
    auth = xmlrpc.basic_auth(address.username, address.password)
    if url.startswith("unix://"):
        path = url[len("unix://"):]

        def unix() -> socket.socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(path)
            except BaseException:
                sock.close()
                raise
            return sock
        return xmlrpc.Connection(unix, "localhost", "/RPC2", auth)
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SupervisorError(f"unsupported supervisord address {url!r}: "
                              "use unix:///path/to/socket or http(s)://host:port")
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        raise SupervisorError(f"supervisord address {url!r} has no valid port") from None
    hostname = parsed.hostname
    secure = parsed.scheme == "https"

    def tcp() -> socket.socket:
        sock = socket.create_connection((hostname, port), timeout=timeout)
        if not secure:
            return sock
        import ssl

        try:
            return ssl.create_default_context().wrap_socket(sock, server_hostname=hostname)
        except BaseException:
            sock.close()
            raise
    host = hostname if parsed.port is None else f"{hostname}:{parsed.port}"
    if ":" in hostname:  # an IPv6 literal
        host = f"[{hostname}]" + ("" if parsed.port is None else f":{parsed.port}")
    return xmlrpc.Connection(tcp, host, parsed.path.rstrip("/") + "/RPC2", auth)


class Supervisor:
    """The calls hznctl makes, each returning plain Python values."""

    def __init__(self, address: Address) -> None:
        self.address = address
        self._connection = _connection(address)

    def _call(self, name: str, *args: Any, keep: bool = False) -> Any:
        """The call's result; with ``keep``, the reply's bytes (a fault still raises)."""
        return self._raw(f"supervisor.{name}", args, keep)

    def _raw(self, method: str, args: tuple[Any, ...], keep: bool = False) -> Any:
        try:
            raw = self._connection.call(method, *args)
            if keep and b"<fault>" not in raw[:512]:
                return raw
            return xmlrpc.loads(raw)
        except xmlrpc.Fault as fault:
            if fault.code == CANT_REREAD:
                raise ConfigUnreadable(_first_lines(fault.string), CANT_REREAD) from None
            raise SupervisorError(f"supervisord refused {method.split('.')[-1]}: "
                                  f"{fault.string}", fault.code) from None
        except xmlrpc.ProtocolError as exc:
            hint = " (check --username/--password-file)" if exc.status == 401 else ""
            raise SupervisorError(f"supervisord at {self.address.url} answered HTTP "
                                  f"{exc.status} {exc.reason}{hint}") from None
        except xmlrpc.Malformed as exc:
            raise SupervisorError(f"supervisord at {self.address.url} sent {exc}: is this "
                                  "supervisord's address?") from None
        except OSError as exc:
            raise SupervisorError(
                f"cannot reach supervisord at {self.address.url}: "
                f"{exc.strerror or type(exc).__name__}; "
                "is it running, and is this the right address?") from None

    def state(self) -> str:
        return str(self._call("getState")["statename"])

    def ensure_running(self) -> None:
        state = self.state()
        if state != "RUNNING":
            raise SupervisorError(f"supervisord at {self.address.url} is {state}, not RUNNING")

    def reload_config(self) -> tuple[list[str], list[str], list[str]]:
        """Re-read the config files; returns (added, changed, removed) groups vs. what runs."""
        result = self._call("reloadConfig")
        added, changed, removed = result[0]
        return list(added), list(changed), list(removed)

    def processes(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._call("getAllProcessInfo"))

    def process_infos(self, names: list[str]) -> dict[str, dict[str, Any] | None]:
        """State of the named processes (``group:name``); None for an unknown one. Few
        names: one multicall of getProcessInfo; many: one getAllProcessInfo."""
        if len(names) > MULTICALL_LIMIT:
            every = {f"{p['group']}:{p['name']}": p for p in self.processes()}
            return {name: every.get(name) for name in names}
        calls = [{"methodName": "supervisor.getProcessInfo", "params": [n]} for n in names]
        try:
            results = self._raw("system.multicall", (calls,))
        except SupervisorError:
            return {name: self._one(name) for name in names}
        if not isinstance(results, list) or len(results) != len(names):
            return {name: self._one(name) for name in names}
        return {name: (r if isinstance(r, dict) and "statename" in r else None)
                for name, r in zip(names, results, strict=True)}

    def _one(self, name: str) -> dict[str, Any] | None:
        try:
            return cast(dict[str, Any], self._call("getProcessInfo", name))
        except SupervisorError as exc:
            if exc.fault == BAD_NAME:
                return None
            raise

    def config_info(self, groups: Collection[str] | None = None) -> list[dict[str, Any]]:
        """How supervisord read each process of ``groups`` (None: of every group).

        getAllConfigInfo reports every process of the host, some thirty values each: on a
        host of hundreds of groups, decoding it all with xmlrpc's Python unmarshaller costs
        more than the rest of a deploy. The reply is parsed by expat into a tree at once,
        and only the wanted processes' values are decoded."""
        raw = self._call("getAllConfigInfo", keep=True)
        try:
            return _structs(raw, "group", groups)
        except xmlrpc.Malformed as exc:
            raise SupervisorError(f"supervisord at {self.address.url} sent {exc}") from None

    def stop_group(self, group: str) -> list[str]:
        """Ask every process of ``group`` to stop and return at once (graceful: stopsignal,
        then supervisord waits up to stopwaitsecs before SIGKILL). Returns the processes
        (``group:name``) it was asked to stop: those that were running (STARTING, RUNNING,
        BACKOFF: rpcinterface.py ``stopProcessGroup`` over ``isRunning``)."""
        try:
            results = self._call("stopProcessGroup", group, False)
        except SupervisorError as exc:
            if exc.fault != BAD_NAME:  # already gone
                raise
            return []
        if not isinstance(results, list):
            raise SupervisorError(f"supervisord at {self.address.url} answered "
                                  "stopProcessGroup with something else than a list")
        return [f"{group}:{r['name']}" for r in results
                if isinstance(r, dict) and isinstance(r.get("name"), str)]

    def remove_group(self, group: str) -> None:
        try:
            self._call("removeProcessGroup", group)
        except SupervisorError as exc:
            if exc.fault != BAD_NAME:  # already gone
                raise

    def start_group(self, group: str) -> list[dict[str, Any]]:
        """Start every stopped process of ``group`` and return once they are spawned (each
        then STARTING, or failed: the result's status structs say how)."""
        return cast(list[dict[str, Any]], self._call("startProcessGroup", group, False))

    def add_group(self, group: str) -> None:
        try:
            self._call("addProcessGroup", group)
        except SupervisorError as exc:
            if exc.fault != ALREADY_ADDED:  # a killed deploy may have added it already
                raise


def _structs(raw: bytes, key: str, wanted: Collection[str] | None) -> list[dict[str, Any]]:
    """The structs of an XML-RPC reply holding an array of structs, those whose ``key``
    is ``wanted`` (None: all), decoded as xmlrpc.client decodes them: the reply is parsed
    by expat into a tree at once, and only the wanted structs are decoded."""
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError:
        raise xmlrpc.Malformed("a reply that is not well-formed XML") from None
    data = root.find("params/param/value/array/data")
    if root.tag != "methodResponse" or data is None:
        raise xmlrpc.Malformed("a reply that does not hold an array")
    found = []
    for value in data:
        if len(value) != 1 or value[0].tag != "struct":
            raise xmlrpc.Malformed("an array of other values than structs")
        if wanted is not None and not any(
                len(m) == 2 and m[0].tag == "name" and m[0].text == key
                and xmlrpc.decode(m[1]) in wanted for m in value[0]):
            continue
        found.append(xmlrpc.decode(value))
    return found


def _first_lines(text: str, limit: int = 6) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    shown = "\n  ".join(lines[:limit])
    return shown + ("\n  …" if len(lines) > limit else "")
