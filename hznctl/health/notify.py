"""Notifications: one message per channel and run, only when statuses changed.

Channels come from ``inventory/notifications/*.yaml``; their URL is a secret reference
decrypted with the runner's key. A Slack-compatible channel gets ``{"text": …}``; a
generic webhook gets the transitions as JSON; every value in a Slack message is escaped
for mrkdwn (no mention or link from a server's words). Each POST goes to exactly the URL
(redirects are not followed), ends within the channel's timeout however slowly the
endpoint answers, reads a bounded answer, and is retried a bounded number of times;
whatever happens, the outcome is a result value, never an exception, and no outcome or
message carries the URL or a password.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import socket
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlsplit

from hznctl.escape import slack_code
from hznctl.health.model import HealthReport, NotificationResult, Status, Transition
from hznctl.models import ChannelType, NotificationChannel, NotificationEvent
from hznctl.redact import redact
from hznctl.secrets.decrypt import Identities, decrypt_value
from hznctl.secrets.errors import SecretError

RETRY_PAUSE = 0.5  # seconds, times the attempt number
MAX_RESPONSE = 64 * 1024  # bytes of a webhook's answer read (and dropped)
USER_AGENT = "hznctl-health"


def event_of(transition: Transition) -> NotificationEvent:
    """recovered when a connection came back (ok, or from an outage to warning)."""
    current, previous = transition.current, transition.previous
    if current is Status.OK or (current is Status.WARNING and previous in (
            Status.CRITICAL, Status.DOWN, Status.ERROR)):
        return NotificationEvent.RECOVERED
    return NotificationEvent(current.value)


def channel_transitions(channel: NotificationChannel,
                        transitions: list[Transition]) -> list[Transition]:
    return [t for t in transitions
            if event_of(t) in channel.events
            and (not channel.environments or t.environment in channel.environments)
            and (not channel.connections or t.connection in channel.connections)]


def notify(channels: list[NotificationChannel], report: HealthReport, root: Path,
           identities: Identities | None) -> list[NotificationResult]:
    jobs = [(c, chosen) for c in channels if c.active
            and (chosen := channel_transitions(c, report.transitions))]
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(len(jobs), 8)) as pool:
        futures = [pool.submit(_deliver_safely, c, chosen, report, root, identities)
                   for c, chosen in jobs]
        return [f.result() for f in futures]


def _deliver_safely(channel: NotificationChannel, transitions: list[Transition],
                    report: HealthReport, root: Path,
                    identities: Identities | None) -> NotificationResult:
    try:
        return _deliver(channel, transitions, report, root, identities)
    except Exception as exc:  # a notification must never break the run or its reports
        return NotificationResult(channel=channel.name, transitions=len(transitions),
                                  delivered=False, attempts=0,
                                  error=f"unexpected {type(exc).__name__}")


def _deliver(channel: NotificationChannel, transitions: list[Transition],
             report: HealthReport, root: Path,
             identities: Identities | None) -> NotificationResult:
    def failed(error: str, attempts: int = 0) -> NotificationResult:
        return NotificationResult(channel=channel.name, transitions=len(transitions),
                                  delivered=False, attempts=attempts, error=error)

    if identities is None:
        return failed("no age identity to decrypt the channel URL with")
    try:
        url = decrypt_value(root / channel.url.sops, channel.url.key, identities).strip()
    except SecretError as exc:
        return failed(redact(f"URL not decryptable: {exc}"))
    if urlsplit(url).scheme not in ("http", "https"):
        return failed("the channel URL is not an http(s) URL")
    body = json.dumps(payload(channel, transitions, report), sort_keys=True).encode("utf-8")
    attempts, error = 0, ""
    for attempt in range(channel.retries + 1):
        attempts = attempt + 1
        error, retry = _post(url, body, channel.timeout)
        if not error:
            return NotificationResult(channel=channel.name, transitions=len(transitions),
                                      delivered=True, attempts=attempts)
        if not retry:
            break
        if attempt < channel.retries:
            time.sleep(RETRY_PAUSE * attempts)
    return failed(redact(_hide(error, url)), attempts)


def _post(url: str, body: bytes, timeout: float) -> tuple[str, bool]:
    """("", _) when delivered, else (reason, whether a retry may help).

    One request to exactly ``url``: a redirect is an answer, not followed (it could send
    the notification, or the credential in its path, elsewhere). ``timeout`` bounds the
    whole exchange, however slowly the endpoint sends: a watchdog shuts the socket when it
    passes. At most ``MAX_RESPONSE`` bytes of the answer are read, and never shown.
    """
    try:
        connection, path, headers = _connection(url, timeout)
    except ValueError:  # a port that is not a number
        return "the channel URL is not a valid URL", False
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout, cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", path, body=body, headers={
            **headers, "Content-Type": "application/json", "User-Agent": USER_AGENT})
        response = connection.getresponse()
        response.read(MAX_RESPONSE)
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set() or isinstance(exc, TimeoutError):
            return f"not delivered: no answer within {timeout:g} s", True
        return f"not delivered: {_reason(exc)}", True
    finally:
        watchdog.cancel()
        connection.close()
    if 300 <= status < 400:
        return f"HTTP {status}: a redirect, not followed", False
    if status >= 400:
        return f"HTTP {status}", status == 429 or status >= 500
    return "", False


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str,
                                                  dict[str, str]]:
    """The connection for ``url`` (through the proxy the environment names, as urllib
    would: ``https_proxy``/``http_proxy``, ``no_proxy``), the request target, and the
    proxy's credentials header for a plain-HTTP request."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        via = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        auth: dict[str, str] = {}
        if via.username is not None:
            token = base64.b64encode(f"{unquote(via.username)}:{unquote(via.password or '')}"
                                     .encode()).decode("ascii")
            auth = {"Proxy-Authorization": f"Basic {token}"}
        if parts.scheme == "https":
            tunnel = http.client.HTTPSConnection(via.hostname or "", via.port or 8080,
                                                 timeout=timeout)
            tunnel.set_tunnel(host, port, headers=auth)
            return tunnel, path, {}
        plain = http.client.HTTPConnection(via.hostname or "", via.port or 8080,
                                           timeout=timeout)
        return plain, url, auth
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    return kind(host, port, timeout=timeout), path, {}


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


def _hide(text: str, url: str) -> str:
    """Webhook URLs are secrets (the path is the credential): never shown."""
    parts = urlsplit(url)
    for secret in (url, parts.netloc + parts.path, parts.path, parts.query):
        if secret and len(secret) > 1:
            text = text.replace(secret, "<channel URL>")
    return text


def payload(channel: NotificationChannel, transitions: list[Transition],
            report: HealthReport) -> dict[str, object]:
    if channel.type is ChannelType.SLACK:
        return {"text": slack_text(transitions, report)}
    return {
        "source": "hznctl health", "started_at": report.started_at,
        "status": report.status.value, "inventory": report.inventory,
        "transitions": [{**t.model_dump(mode="json"), "event": event_of(t).value}
                        for t in transitions],
    }


_EMOJI = {NotificationEvent.RECOVERED: ":large_green_circle:",
          NotificationEvent.WARNING: ":large_yellow_circle:",
          NotificationEvent.CRITICAL: ":large_orange_circle:",
          NotificationEvent.DOWN: ":red_circle:", NotificationEvent.ERROR: ":no_entry:"}


def slack_text(transitions: list[Transition], report: HealthReport) -> str:
    lines = [f"*Redis health* ({report.started_at}):"]
    for t in transitions:
        event = event_of(t)
        before = t.previous.value if t.previous else "new"
        lines.append(f"{_EMOJI[event]} *{slack_code(t.connection)}* "
                     f"({slack_code(t.environment)}) {event.value}: "
                     f"{before} → {t.current.value} — {slack_code(t.message)}")
    return "\n".join(lines)
