"""The long-running monitor behind `hznctl health serve`: probe rounds on an interval.

Each round probes every selected connection like `hznctl health`, compares it with the
previous round (transitions, throughput, new failures), notifies on transitions, and
publishes a ``Snapshot``: the rendered metrics, HTML and JSON of the round. Readers take
the latest snapshot and never wait for a round; a round never waits for a reader.

Memory stays bounded and small: one snapshot, the last ``CHART_RUNS`` run records for the
charts (each kept as its compressed history line: a thousand connections' record is ~1 MB
as objects, ~10 kB compressed), the targets of the loaded inventory. Nothing a server does
raises out of a round; an inventory that no longer loads on reload keeps the previous one
(and says so).
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hznctl.errors import HznctlError
from hznctl.health.history import (
    CHART_RUNS,
    RunRecord,
    append_run,
    parse_record,
    read_history,
    record_json,
    run_record,
)
from hznctl.health.html import render_html
from hznctl.health.model import HealthReport
from hznctl.health.reports import render_prometheus, write_reports
from hznctl.health.run import (
    HealthOptions,
    assemble,
    choose_connections,
    load_for_health,
    runner_credentials,
    send_notifications,
    settings_for,
)
from hznctl.health.runner import check, run_probes
from hznctl.health.targets import Credentials, ProbeTarget, build_targets, with_credentials
from hznctl.inventory import Inventory


@dataclass(frozen=True)
class MonitorOptions:
    health: HealthOptions  # inventory, filters, deadline, identity, notify, history
    interval: float = 30.0
    out: Path | None = None  # also write the report files there after every round
    workers: int = 1  # probe processes; the monitor's threads make forking a risk
    chart_runs: int = CHART_RUNS  # rounds the trends keep: what bounds the monitor's memory


@dataclass(frozen=True)
class Snapshot:
    """One completed round, rendered once for every reader."""

    report: HealthReport
    metrics: bytes
    metrics_gzip: bytes  # what a scraper sending Accept-Encoding: gzip gets (Prometheus does)
    html: bytes
    json: bytes
    completed: float  # time.monotonic()


@dataclass
class Loaded:
    inventory: Inventory
    targets: list[ProbeTarget]
    credentials: Credentials
    at: float = field(default_factory=time.monotonic)


class Monitor:
    def __init__(self, options: MonitorOptions) -> None:
        self.options = options
        self.loaded: Loaded | None = None
        self.snapshot: Snapshot | None = None
        self._runs: deque[bytes] = deque(maxlen=options.chart_runs)
        self.rounds = 0
        self.failed_rounds = 0
        self.reloads = 0
        self.reload_error: str | None = None
        self.last_error: str | None = None
        self.notifications_sent = 0
        self._lock = threading.Lock()
        self._previous: RunRecord | None = None
        if options.health.history is not None:
            for record in read_history(options.health.history)[-options.chart_runs:]:
                self._remember(record)

    # --- inventory ----------------------------------------------------------------------

    def load(self) -> None:
        """Load (or reload) the inventory; raises HznctlError when it does not load."""
        health = self.options.health
        inventory = load_for_health(health.inventory)
        chosen = choose_connections(inventory, health)
        credentials = runner_credentials(health.identity)
        # Decrypted once per load: a round must not run sops a thousand times.
        targets = with_credentials(build_targets(inventory, chosen), credentials)
        with self._lock:
            self.loaded = Loaded(inventory, targets, credentials)

    def reload(self) -> bool:
        """SIGHUP: load again; on failure keep the inventory loaded before."""
        try:
            self.load()
        except HznctlError as exc:
            self.reload_error = str(exc)
            return False
        self.reloads += 1
        self.reload_error = None
        return True

    # --- rounds -------------------------------------------------------------------------

    def round(self) -> Snapshot:
        loaded = self.loaded
        if loaded is None:
            raise HznctlError("the monitor has no inventory loaded")
        health = self.options.health
        settings = settings_for(loaded.inventory, health.deadline)
        started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        clock = time.perf_counter()
        results = run_probes(loaded.targets, settings, workers=self.options.workers)
        previous = self._previous
        report = assemble(
            results, previous, inventory=str(health.inventory), started_at=started_at,
            duration=time.perf_counter() - clock, deadline=settings.deadline,
            thresholds={t.name: t.thresholds for t in loaded.targets},
            history=str(health.history) if health.history else "memory")
        if health.notify and report.transitions:
            report = send_notifications(loaded.inventory, report, loaded.credentials)
            self.notifications_sent += sum(n.delivered for n in report.notifications)
        self._remember(run_record(report))
        runs = self.runs()
        if health.history is not None:
            append_run(health.history, report)
        if self.options.out is not None:
            write_reports(self.options.out, report, runs)
        metrics = render_prometheus(report).encode("utf-8")
        snapshot = Snapshot(report, metrics, gzip.compress(metrics, compresslevel=1, mtime=0),
                            render_html(report, runs).encode("utf-8"),
                            report.to_json().encode("utf-8"), time.monotonic())
        self.snapshot = snapshot
        self.rounds += 1
        return snapshot

    def _remember(self, record: RunRecord) -> None:
        self._previous = record
        self._runs.append(zlib.compress(record_json(record).encode("utf-8"), 6))

    def runs(self) -> list[RunRecord]:
        """The remembered runs, oldest first."""
        return [parse_record(zlib.decompress(packed)) for packed in self._runs]

    def safe_round(self) -> Snapshot | None:
        """A round whose failure (a full disk, a broken notification) is counted, not
        raised: the monitor keeps running and keeps serving the last snapshot."""
        try:
            return self.round()
        except (HznctlError, OSError) as exc:
            self.failed_rounds += 1
            self.last_error = str(exc)
            return None
        except Exception as exc:  # a bug must not end the rounds
            self.failed_rounds += 1
            self.last_error = f"internal error: {type(exc).__name__}"
            return None

    def run(self, stop: threading.Event, reload: threading.Event,
            on_round: Callable[[Snapshot | None], None] | None = None) -> None:
        """Rounds every ``interval`` seconds (from the start of one to the next) until
        ``stop``; ``reload`` set: load the inventory again before the next round."""
        while not stop.is_set():
            began = time.monotonic()
            if reload.is_set():
                reload.clear()
                self.reload()
            done = self.safe_round()
            if on_round is not None:
                on_round(done)
            until = began + self.options.interval
            while not stop.is_set() and not reload.is_set() and time.monotonic() < until:
                stop.wait(min(until - time.monotonic(), 0.2))

    # --- on demand ----------------------------------------------------------------------

    def target(self, name: str) -> ProbeTarget | None:
        loaded = self.loaded
        if loaded is None:
            return None
        return next((t for t in loaded.targets if t.name == name), None)

    def probe_one(self, target: ProbeTarget) -> bytes:
        """redis_exporter's /probe: probe one connection of the inventory now."""
        loaded = self.loaded
        assert loaded is not None
        settings = settings_for(loaded.inventory, self.options.health.deadline)
        budget = min(settings.check_timeout, settings.deadline)
        loop = asyncio.new_event_loop()
        try:
            result = loop.run_until_complete(check(target, budget))
        finally:
            loop.close()
        started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        report = assemble([result], None, inventory=str(self.options.health.inventory),
                          started_at=started_at, duration=result.duration_ms / 1000,
                          deadline=budget, thresholds={target.name: target.thresholds},
                          history=None)
        return render_prometheus(report).encode("utf-8")

    def stale_after(self) -> float:
        """Seconds without a completed round after which /healthz fails."""
        loaded = self.loaded
        deadline = (self.options.health.deadline or (
            loaded.inventory.project.health.deadline
            if loaded and loaded.inventory.project else 60.0))
        return 3 * self.options.interval + deadline

