"""XML-RPC over HTTP/1.1 to supervisord with a socket and expat, nothing more.

`xmlrpc.client` imports `http.client` (and with it `email` and `ssl`), and supervisor's
transport adds `supervisor.compat` (`importlib.metadata`, `configparser`, `html`): some
30 ms of imports in a deploy that costs little more than that. What supervisord speaks
is small (supervisor/xmlrpc.py and medusa/http_server.py, 4.3.0): a POST to ``/RPC2``,
a reply with a Content-Length (``continue_request``, ``DeferredXMLRPCResponse``) on a
connection kept alive for HTTP/1.1, and values marshalled by ``xmlrpclib.dumps`` —
strings, integers, booleans, arrays and structs. This module sends exactly that and reads
replies as `xmlrpc.client.loads` does (held to it by tests/unit/test_deploy_xmlrpc.py).

The server may be hostile (anyone who can bind the socket): a reply is bounded in size,
every read has the connection's timeout, and a reply that is not XML-RPC is an error, not
a guess. Nothing here echoes a request (the password is only in its header).
"""

from __future__ import annotations

import base64
import socket
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from typing import Any

# A reply larger than this is refused (a listing of 10,000 processes is some 12 MB).
MAX_REPLY = 256 * 1024 * 1024
MAX_HEADER_LINE = 65536
MAX_HEADERS = 100


class Fault(Exception):
    """The server answered with an XML-RPC fault."""

    def __init__(self, code: int, string: str) -> None:
        super().__init__(code, string)
        self.code = code
        self.string = string


class ProtocolError(Exception):
    """The server answered HTTP with a status other than 200."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


class Malformed(Exception):
    """The reply is not HTTP carrying XML-RPC (what is wrong, never the reply's text)."""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _value(value: Any, out: list[str]) -> None:
    if value is True or value is False:
        out.append(f"<value><boolean>{int(value)}</boolean></value>")
    elif isinstance(value, int):
        if not -2**31 <= value < 2**31:
            raise OverflowError("int exceeds XML-RPC limits")
        out.append(f"<value><int>{value}</int></value>")
    elif isinstance(value, str):
        out.append(f"<value><string>{_escape(value)}</string></value>")
    elif isinstance(value, list | tuple):
        out.append("<value><array><data>")
        for item in value:
            _value(item, out)
        out.append("</data></array></value>")
    elif isinstance(value, dict):
        out.append("<value><struct>")
        for key, item in value.items():
            out.append(f"<member><name>{_escape(str(key))}</name>")
            _value(item, out)
            out.append("</member>")
        out.append("</struct></value>")
    else:
        raise TypeError(f"cannot marshal {type(value).__name__} objects")


def dumps(method: str, params: tuple[Any, ...]) -> bytes:
    """A methodCall document, as `xmlrpc.client.dumps` writes one for these types."""
    out = ["<?xml version='1.0'?>\n<methodCall>\n<methodName>", _escape(method),
           "</methodName>\n<params>\n"]
    for param in params:
        out.append("<param>\n")
        _value(param, out)
        out.append("</param>\n")
    out.append("</params>\n</methodCall>\n")
    return "".join(out).encode("utf-8")


_INTEGERS = frozenset({"int", "i1", "i2", "i4", "i8", "biginteger"})


def decode(value: ElementTree.Element) -> Any:
    """One ``<value>`` as xmlrpc.client's Unmarshaller decodes it (a bare text is a
    string); a type supervisord never sends is Malformed."""
    if value.tag != "value" or len(value) > 1:
        raise Malformed("a value of another shape than XML-RPC's")
    if len(value) == 0:
        return value.text or ""
    typed = value[0]
    tag = typed.tag
    if tag != "array" and tag != "struct" and len(typed):
        raise Malformed("markup inside a value")
    if tag == "string":
        return typed.text or ""
    if tag in _INTEGERS:
        try:
            return int(typed.text or "")
        except ValueError:
            raise Malformed("an integer that is not one") from None
    if tag == "boolean":
        if typed.text not in ("0", "1"):
            raise Malformed("a boolean that is not 0 or 1")
        return typed.text == "1"
    if tag == "array":
        if len(typed) != 1 or typed[0].tag != "data":
            raise Malformed("an array without its data")
        return [decode(item) for item in typed[0]]
    if tag == "struct":
        struct: dict[str, Any] = {}
        for member in typed:
            if (member.tag != "member" or len(member) != 2 or member[0].tag != "name"
                    or len(member[0])):
                raise Malformed("a struct member of another shape than XML-RPC's")
            struct[member[0].text or ""] = decode(member[1])
        return struct
    if tag == "double":
        try:
            return float(typed.text or "")
        except ValueError:
            raise Malformed("a double that is not one") from None
    if tag == "nil":
        return None
    raise Malformed("a value of a type supervisord does not send")


def loads(body: bytes) -> Any:
    """The single value of a methodResponse; a fault is raised as Fault."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise Malformed("a reply that is not well-formed XML") from None
    if root.tag != "methodResponse" or len(root) != 1:
        raise Malformed("a reply that is not an XML-RPC methodResponse")
    node = root[0]
    if node.tag == "fault":
        if len(node) != 1:
            raise Malformed("a fault of another shape than XML-RPC's")
        fault = decode(node[0])
        if (not isinstance(fault, dict) or not isinstance(fault.get("faultCode"), int)
                or not isinstance(fault.get("faultString"), str)):
            raise Malformed("a fault without its code and text")
        raise Fault(fault["faultCode"], fault["faultString"])
    if (node.tag != "params" or len(node) != 1 or node[0].tag != "param"
            or len(node[0]) != 1):
        raise Malformed("a reply that does not hold exactly one value")
    return decode(node[0][0])


def basic_auth(username: str | None, password: str | None) -> str | None:
    if username is None or password is None:
        return None
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class Connection:
    """One kept-alive HTTP/1.1 connection to an XML-RPC server, opened on first use and
    again when the server closed it."""

    def __init__(self, connect: Callable[[], socket.socket], host: str, path: str,
                 authorization: str | None = None) -> None:
        if any(c <= " " or c == "\x7f" for c in host + path):
            raise ValueError("a host or path with spaces or control characters")
        self._connect = connect
        self._host = host
        self._path = path
        self._authorization = authorization
        self._sock: socket.socket | None = None
        self._reader: Any = None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._reader = None

    def call(self, method: str, *params: Any) -> bytes:
        """The body of the reply to ``method(*params)`` (HTTP 200), undecoded."""
        body = dumps(method, params)
        head = [f"POST {self._path} HTTP/1.1\r\nHost: {self._host}\r\n"
                f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n"]
        if self._authorization is not None:
            head.append(f"Authorization: {self._authorization}\r\n")
        request = "".join(head).encode("latin-1") + b"\r\n" + body
        # A kept-alive connection the server has closed fails before any reply: then, and
        # only then, the request is sent again on a new one (as xmlrpc.client does).
        for attempt in (0, 1):
            reused = self._sock is not None
            if self._sock is None:
                self._sock = self._connect()
                self._reader = self._sock.makefile("rb")
            try:
                self._sock.sendall(request)
                status_line = self._reader.readline(MAX_HEADER_LINE + 1)
            except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
                self.close()
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                self.close()
                raise
            if not status_line:
                self.close()
                if reused and attempt == 0:
                    continue
                raise ConnectionResetError("the server closed the connection")
            try:
                return self._response(status_line)
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _response(self, status_line: bytes) -> bytes:
        reader = self._reader
        parts = status_line.split(None, 2)
        if (len(status_line) > MAX_HEADER_LINE or len(parts) < 2
                or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit()):
            raise Malformed("a reply that is not HTTP")
        status = int(parts[1])
        reason = parts[2].strip().decode("latin-1") if len(parts) > 2 else ""
        headers: dict[bytes, bytes] = {}
        for _ in range(MAX_HEADERS + 1):
            line = reader.readline(MAX_HEADER_LINE + 1)
            if len(line) > MAX_HEADER_LINE:
                raise Malformed("an HTTP header line too long")
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise Malformed("a reply cut off in its headers")
            name, sep, value = line.partition(b":")
            if not sep:
                raise Malformed("an HTTP header without a colon")
            headers[name.strip().lower()] = value.strip()
        else:
            raise Malformed("too many HTTP headers")
        body = self._body(headers)
        if (headers.get(b"connection", b"").lower() == b"close"
                or (parts[0] == b"HTTP/1.0"
                and headers.get(b"connection", b"").lower() != b"keep-alive")):
            self.close()
        if status != 200:
            raise ProtocolError(status, reason[:200])
        return body

    def _body(self, headers: dict[bytes, bytes]) -> bytes:
        reader = self._reader
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            chunks: list[bytes] = []
            size = 0
            while True:
                line = reader.readline(MAX_HEADER_LINE + 1)
                try:
                    length = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise Malformed("a chunk without its size") from None
                if length < 0 or size + length > MAX_REPLY:
                    raise Malformed("a reply larger than hznctl reads")
                if length == 0:
                    while reader.readline(MAX_HEADER_LINE + 1) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunk = reader.read(length)
                if len(chunk) != length:
                    raise Malformed("a reply cut off")
                chunks.append(chunk)
                size += length
                reader.readline(MAX_HEADER_LINE + 1)
        length_text = headers.get(b"content-length")
        if length_text is None:  # the body is what comes until the server closes
            data = reader.read(MAX_REPLY + 1)
            if len(data) > MAX_REPLY:
                raise Malformed("a reply larger than hznctl reads")
            self.close()
            return bytes(data)
        if not length_text.isdigit() or int(length_text) > MAX_REPLY:
            raise Malformed("a reply larger than hznctl reads or of no length")
        length = int(length_text)
        data = reader.read(length)
        if len(data) != length:
            raise Malformed("a reply cut off")
        return bytes(data)
