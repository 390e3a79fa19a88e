"""Run `hznctl health serve` as a real process and talk to it over loopback HTTP."""

from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import venv_bin, wait_for


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    stderr: list[str] = field(default_factory=list)

    def get(self, path: str, timeout: float = 5.0, *,
            gzipped: bool = False) -> tuple[int, bytes, float]:
        """(status, body, seconds) of one GET; ``gzipped``: ask for gzip, as Prometheus
        does, and return the body inflated."""
        started = time.perf_counter()
        request = urllib.request.Request(self.url + path.lstrip("/"), headers={
            "Accept-Encoding": "gzip"} if gzipped else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                body = reply.read()
                seconds = time.perf_counter() - started
                if reply.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                elif gzipped:
                    raise AssertionError("asked for gzip, got " + str(reply.headers))
                return reply.status, body, seconds
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), time.perf_counter() - started

    def signal(self, signo: int) -> None:
        os.kill(self.process.pid, signo)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(timeout=10)

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        assert found, status
        return int(found.group(1))


def serve(inventory: Path, *args: str, env: dict[str, str] | None = None) -> Served:
    process = subprocess.Popen(
        [venv_bin("hznctl"), "health", "serve", str(inventory), "--listen", "127.0.0.1:0",
         *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})})
    served = Served(process, "")
    assert process.stderr is not None
    stream = process.stderr

    def read() -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace")
            served.stderr.append(line)
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                served.url = found.group(1)

    threading.Thread(target=read, daemon=True).start()
    wait_for(lambda: served.url or process.poll() is not None, timeout=30,
             what="the monitor to listen")
    assert served.url, "".join(served.stderr)
    return served
