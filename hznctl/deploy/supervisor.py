"""A small XML-RPC client for supervisord: unix socket, or HTTP(S) with credentials.

Every call has a socket timeout (supervisor's own transport has none, so a stopped
supervisord would hang a deploy forever), and every failure becomes a `SupervisorError`
with a sentence that names the address — never the password.
"""

from __future__ import annotations

import base64
import http.client
import socket
import urllib.parse
import xml.etree.ElementTree as ElementTree
import xmlrpc.client
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, cast

from supervisor.xmlrpc import SupervisorTransport, UnixStreamHTTPConnection

from hznctl.errors import HznctlError

# Fault codes of supervisor.xmlrpc.Faults used here.
BAD_NAME = 10
ALREADY_ADDED = 90
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


class _Kept:
    """A response parser that keeps the bytes (for a reply parsed by ``_structs``)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def feed(self, data: bytes) -> None:
        self.chunks.append(data)

    def close(self) -> tuple[bytes]:  # as parser and as unmarshaller: one value
        return (b"".join(self.chunks),)


class _Keeping:
    """A transport that hands back a reply's bytes when ``keep`` is set."""

    keep = False

    def getparser(self) -> tuple[Any, Any]:
        if self.keep:
            kept = _Kept()
            return kept, kept
        return cast(tuple[Any, Any], super().getparser())  # type: ignore[misc]


class _UnixConnection(UnixStreamHTTPConnection):  # type: ignore[misc]
    socketfile: str

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socketfile)
        self.sock = sock


class _Transport(_Keeping, SupervisorTransport):  # type: ignore[misc]
    """supervisor's persistent-connection transport, with a timeout on every socket."""

    def __init__(self, address: Address) -> None:
        super().__init__(address.username, address.password, address.url)
        timeout = address.timeout
        url = address.url
        if url.startswith("unix://"):
            def unix() -> http.client.HTTPConnection:
                conn = _UnixConnection("localhost", timeout=timeout)
                conn.socketfile = url[len("unix://"):]
                return conn
            self._get_connection = unix
        else:
            parsed = urllib.parse.urlsplit(url)
            port = parsed.port or 80

            def tcp() -> http.client.HTTPConnection:
                return http.client.HTTPConnection(parsed.hostname or "localhost", port,
                                                  timeout=timeout)
            self._get_connection = tcp


class _SafeTransport(_Keeping, xmlrpc.client.SafeTransport):
    """HTTPS (supervisor's transport speaks only plain HTTP): basic auth in a header."""

    def __init__(self, address: Address) -> None:
        super().__init__()
        self._timeout = address.timeout
        self._auth: str | None = None
        if address.username is not None and address.password is not None:
            raw = f"{address.username}:{address.password}".encode()
            self._auth = "Basic " + base64.b64encode(raw).decode("ascii")

    def make_connection(self, host: Any) -> http.client.HTTPSConnection:
        conn = super().make_connection(host)
        conn.timeout = self._timeout
        return conn

    def send_headers(self, connection: http.client.HTTPConnection,
                     headers: list[tuple[str, str]]) -> None:
        if self._auth is not None:
            headers = [*headers, ("Authorization", self._auth)]
        super().send_headers(connection, headers)


class Supervisor:
    """The calls hznctl makes, each returning plain Python values."""

    def __init__(self, address: Address) -> None:
        self.address = address
        self._transport: _Keeping
        if address.url.startswith("https://"):
            self._transport = _SafeTransport(address)
            self._proxy = xmlrpc.client.ServerProxy(address.url.rstrip("/") + "/RPC2",
                                                    transport=self._transport)
        elif address.url.startswith(("unix://", "http://")):
            self._transport = _Transport(address)
            self._proxy = xmlrpc.client.ServerProxy("http://127.0.0.1",
                                                    transport=self._transport)
        else:
            raise SupervisorError(f"unsupported supervisord address {address.url!r}: "
                                  "use unix:///path/to/socket or http(s)://host:port")

    def _call(self, name: str, *args: Any, keep: bool = False) -> Any:
        """The call's result; with ``keep``, the reply's bytes (a fault still raises)."""
        method = getattr(self._proxy.supervisor, name)
        try:
            if not keep:
                return method(*args)
            self._transport.keep = True
            try:
                raw = method(*args)
            finally:
                self._transport.keep = False
            if b"<fault>" in raw[:512]:
                xmlrpc.client.loads(raw)  # raises the Fault, told as below
            return raw
        except xmlrpc.client.Fault as fault:
            if fault.faultCode == CANT_REREAD:
                raise ConfigUnreadable(_first_lines(fault.faultString), CANT_REREAD) from None
            raise SupervisorError(f"supervisord refused {name}: {fault.faultString}",
                                  fault.faultCode) from None
        except xmlrpc.client.ProtocolError as exc:
            hint = " (check --username/--password-file)" if exc.errcode == 401 else ""
            raise SupervisorError(f"supervisord at {self.address.url} answered HTTP "
                                  f"{exc.errcode} {exc.errmsg}{hint}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise SupervisorError(
                f"cannot reach supervisord at {self.address.url}: "
                f"{exc.strerror or type(exc).__name__ if isinstance(exc, OSError) else exc}; "
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
            results = cast(list[Any], self._proxy.system.multicall(calls))
        except (xmlrpc.client.Error, OSError, http.client.HTTPException):
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
        except _Unexpected:
            every = cast(list[dict[str, Any]], xmlrpc.client.loads(raw)[0][0])
            return [c for c in every if groups is None or c.get("group") in groups]

    def stop_group(self, group: str) -> None:
        """Ask every process of ``group`` to stop and return at once (graceful: stopsignal,
        then supervisord waits up to stopwaitsecs before SIGKILL)."""
        try:
            self._call("stopProcessGroup", group, False)
        except SupervisorError as exc:
            if exc.fault != BAD_NAME:  # already gone
                raise

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


class _Unexpected(Exception):
    """A reply in another shape than supervisord's usual one (decoded the slow way)."""


def _structs(raw: bytes, key: str, wanted: Collection[str] | None) -> list[dict[str, Any]]:
    """The structs of an XML-RPC reply holding an array of structs, those whose ``key``
    is ``wanted`` (None: all), decoded as xmlrpc.client decodes them."""
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError:
        raise _Unexpected from None
    data = root.find("params/param/value/array/data")
    if data is None:
        raise _Unexpected
    found = []
    for value in data:
        if len(value) != 1 or value[0].tag != "struct":
            raise _Unexpected
        members = {m.findtext("name"): m.find("value") for m in value[0]}
        if wanted is not None and _decode(members.get(key)) not in wanted:
            continue
        found.append({str(name): _decode(v) for name, v in members.items()})
    return found


def _decode(value: ElementTree.Element | None) -> Any:
    """One XML-RPC value (xmlrpc.client's Unmarshaller: a bare text is a string)."""
    if value is None:
        raise _Unexpected
    if len(value) == 0:
        return value.text or ""
    typed = value[0]
    text = typed.text or ""
    if typed.tag == "string":
        return text
    if typed.tag in ("int", "i4", "i8"):
        return int(text)
    if typed.tag == "boolean":
        if text not in ("0", "1"):
            raise _Unexpected
        return text == "1"
    if typed.tag == "double":
        return float(text)
    if typed.tag == "nil":
        return None
    if typed.tag == "array":
        data = typed.find("data")
        return [_decode(v) for v in data] if data is not None else []
    if typed.tag == "struct":
        return {str(m.findtext("name")): _decode(m.find("value")) for m in typed}
    raise _Unexpected  # base64, dateTime: not in supervisord's config info


def _first_lines(text: str, limit: int = 6) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    shown = "\n  ".join(lines[:limit])
    return shown + ("\n  …" if len(lines) > limit else "")
