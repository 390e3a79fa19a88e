"""index.html: one self-contained page (inline CSS and SVG, no scripts, no external assets).

The dashboard: status by connection and by application, every queue's figures (waiting,
delayed, reserved, failed, oldest job, Horizon's estimate, throughput, workers), the changes
since the previous run, charts over the history (latency, memory, depth and oldest-job age
per queue) and a status timeline of the connections.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from hznctl.escape import html_text as escape
from hznctl.health.history import CHART_RUNS, RunRecord
from hznctl.health.model import STATUS_ORDER, ConnectionHealth, HealthReport, Status, worst

COLOURS = {Status.OK: "#1a7f37", Status.WARNING: "#9a6700", Status.CRITICAL: "#bc4c00",
           Status.DOWN: "#cf222e", Status.ERROR: "#8250df"}
PALETTE = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bc4c00", "#9a6700", "#1b7c83",
           "#6e7781")
PER_CONNECTION_LINES = 8  # more connections than this: median and worst only
CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{border-bottom:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;white-space:nowrap}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:16px}
svg.chart{border:1px solid #d0d7de;border-radius:6px;background:#fff}
svg text{font:11px system-ui,sans-serif;fill:#57606a}
"""


def render_html(report: HealthReport, runs: list[RunRecord]) -> str:
    runs = runs[-CHART_RUNS:]
    counts = ", ".join(f"{report.counts[s]} {s.value}" for s in STATUS_ORDER if report.counts[s])
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Redis health: {report.status.value}</title><style>{CSS}</style></head><body>",
        f"<h1>Redis health {_badge(report.status)}</h1>",
        f"<p>{len(report.connections)} connection(s): {escape(counts or 'none')} — run at "
        f"{escape(report.started_at)} in {report.duration_seconds:.2f} s "
        f"(deadline {report.deadline_seconds:g} s).</p>",
        (f'<p class="history-problem">History ignored: {escape(report.history_problem)}</p>'
         if report.history_problem else ""),
        _transitions(report), "<h2>Connections</h2>", _connection_table(report.connections),
        "<h2>Applications</h2>", _application_table(report.connections),
        "<h2>Queues</h2>", _queue_table(report.connections),
        f"<h2>History ({len(runs)} run(s))</h2>", '<div class="charts">',
        _chart("latency", "PING latency p50 (ms)", runs, "latency_ms"),
        _chart("memory", "Memory used (MiB)", runs, "used_memory", scale=1 / 1048576),
        _chart("depth", "Waiting jobs per queue", runs, "pending", queues=True),
        _chart("oldest", "Oldest waiting job per queue (s)", runs, "oldest_pending_age_s",
               queues=True),
        "</div>", "<h2>Status timeline</h2>", _timeline(runs),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _badge(status: Status) -> str:
    return (f'<span class="badge status-{status.value}" style="background:'
            f'{COLOURS[status]}">{status.value}</span>')


def _transitions(report: HealthReport) -> str:
    if not report.transitions:
        return ""
    items = "".join(
        f"<li><b>{escape(t.connection)}</b> ({escape(t.environment)}): "
        f"{_badge(t.previous) if t.previous else 'new'} → {_badge(t.current)} "
        f"{escape(t.message)}</li>" for t in report.transitions)
    return f'<h2>Changes since the previous run</h2><ul class="transitions">{items}</ul>'


def _connection_table(connections: list[ConnectionHealth]) -> str:
    head = ("<tr><th>Status</th><th>Connection</th><th>Environment</th><th>Endpoint</th>"
            "<th>Applications</th><th>Latency p50 / max</th><th>Memory</th><th>Clients</th>"
            "<th>Backlog</th><th>Message</th></tr>")
    rows = [head]
    for c in connections:
        t, s = c.timings, c.server
        latency = (f"{t.latency_p50_ms:.2f} / {t.latency_max_ms or 0:.2f} ms"
                   if t.latency_p50_ms is not None else "—")
        memory = "—"
        if s is not None and s.used_memory is not None:
            memory = f"{s.used_memory / 1048576:.1f} MiB"
            if s.memory_percent is not None:
                memory += f" ({s.memory_percent:.0f}%)"
        clients = "—" if s is None or s.connected_clients is None else (
            f"{s.connected_clients}" + (f" / {s.maxclients}" if s.maxclients else ""))
        backlog = "—" if c.backlog is None else str(c.backlog)
        rows.append(
            f'<tr class="connection" data-connection="{escape(c.connection)}" '
            f'data-status="{c.status.value}"><td>{_badge(c.status)}</td>'
            f"<td>{escape(c.connection)}</td><td>{escape(c.environment)}</td>"
            f"<td>{escape(c.endpoint)}{' (TLS)' if c.tls else ''}</td>"
            f"<td>{escape(', '.join(c.applications)) or '—'}</td><td class=num>{latency}</td>"
            f"<td class=num>{memory}</td><td class=num>{clients}</td>"
            f"<td class=num>{backlog}</td><td>{escape(c.message)}</td></tr>")
    return f'<table id="connections">{"".join(rows)}</table>'


def _application_table(connections: list[ConnectionHealth]) -> str:
    by_app: dict[str, list[ConnectionHealth]] = {}
    for c in connections:
        for app in c.applications:
            by_app.setdefault(app, []).append(c)
    rows = ["<tr><th>Status</th><th>Application</th><th>Connections</th></tr>"]
    for app in sorted(by_app):
        items = by_app[app]
        status = worst([c.status for c in items])
        listed = ", ".join(f"{escape(c.connection)} {_badge(c.status)}" for c in items)
        rows.append(f'<tr class="application" data-application="{escape(app)}">'
                    f"<td>{_badge(status)}</td><td>{escape(app)}</td><td>{listed}</td></tr>")
    if not by_app:
        rows.append('<tr><td colspan="3">No active application uses these connections.</td></tr>')
    return f'<table id="applications">{"".join(rows)}</table>'


def _queue_table(connections: list[ConnectionHealth]) -> str:
    head = ("<tr><th>Application</th><th>Queue</th><th>Connection</th><th>Runtime</th>"
            "<th>Waiting</th><th>Delayed</th><th>Reserved</th><th>Failed</th>"
            "<th>Oldest job</th><th>Estimated wait</th><th>Jobs/min</th><th>Workers</th></tr>")
    rows = [head]
    items = sorted(((q, c) for c in connections for q in c.queues),
                   key=lambda item: (item[0].application, item[0].queue, item[1].connection))
    for q, c in items:
        failed = _num(q.failed) + (" (app)" if q.failed_scope == "application" else "")
        rows.append(
            f'<tr class="queue" data-application="{escape(q.application)}" '
            f'data-queue="{escape(q.queue)}" data-connection="{escape(c.connection)}">'
            f"<td>{escape(q.application)}</td><td>{escape(q.queue)}</td>"
            f"<td>{escape(c.connection)}</td><td>{escape(q.runtime)}</td>"
            f'<td class=num data-figure="pending">{_num(q.pending)}</td>'
            f"<td class=num>{_num(q.delayed)}</td><td class=num>{_num(q.reserved)}</td>"
            f'<td class=num data-figure="failed">{failed}</td>'
            f'<td class=num data-figure="oldest">{_age(q.oldest_pending_age_s)}</td>'
            f"<td class=num>{_age(q.estimated_wait_s)}</td>"
            f"<td class=num>{_num(q.throughput_per_min)}</td>"
            f'<td class=num data-figure="workers">{_num(q.workers)}</td></tr>')
    if not items:
        rows.append('<tr><td colspan="12">No queue is configured on these connections.</td></tr>')
    return f'<table id="queues">{"".join(rows)}</table>'


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


TIMELINE_ROWS = 40  # connections drawn; those that were ever not ok come first


def _timeline(runs: list[RunRecord]) -> str:
    names = sorted({name for run in runs for name in run.statuses})
    troubled = [n for n in names if any(run.statuses.get(n, Status.OK) is not Status.OK
                                        for run in runs)]
    shown = (troubled + [n for n in names if n not in troubled])[:TIMELINE_ROWS]
    if not runs or not shown:
        return '<p id="timeline">No run in the history yet.</p>'
    label, cell, row = 160, max(2.0, min(12.0, 600 / len(runs))), 14
    width = int(label + cell * len(runs) + 8)
    height = row * len(shown) + 20
    body = []
    for y, name in enumerate(shown):
        top = y * row + 4
        body.append(f'<text x="0" y="{top + 10}">{escape(name[:24])}</text>')
        for x, run in enumerate(runs):
            status = run.statuses.get(name)
            if status is None:
                continue
            body.append(f'<rect class="tick" data-connection="{escape(name)}" '
                        f'data-status="{status.value}" x="{label + x * cell:.1f}" y="{top}" '
                        f'width="{max(cell - 1, 1):.1f}" height="{row - 3}" '
                        f'fill="{COLOURS[status]}"><title>{escape(name)} {escape(run.at)}: '
                        f"{status.value}</title></rect>")
    more = len(names) - len(shown)
    if more > 0:
        body.append(f'<text x="0" y="{height - 4}">… and {more} more connection(s), '
                    "ok in every run shown</text>")
    return (f'<svg id="timeline" class="chart" xmlns="http://www.w3.org/2000/svg" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="Status timeline">{"".join(body)}</svg>')


def _series(runs: list[RunRecord], figure: str, scale: float,
            queues: bool = False) -> list[tuple[str, list[float | None]]]:
    if queues:
        names = sorted({f"{conn} {queue}" for run in runs for conn, items in run.queues.items()
                        for queue in items})
    else:
        names = sorted({name for run in runs for name in run.figures})

    def value(run: RunRecord, name: str) -> float | None:
        if queues:
            conn, _, queue = name.partition(" ")
            raw = run.queues.get(conn, {}).get(queue, {}).get(figure)
        else:
            raw = run.figures.get(name, {}).get(figure)
        return float(raw) * scale if isinstance(raw, int | float) else None

    if len(names) <= PER_CONNECTION_LINES:
        return [(name, [value(run, name) for run in runs]) for name in names]
    medians: list[float | None] = []
    worsts: list[float | None] = []
    for run in runs:
        values = [v for v in (value(run, n) for n in names) if v is not None]
        medians.append(statistics.median(values) if values else None)
        worsts.append(max(values) if values else None)
    what = "queues" if queues else "connections"
    return [(f"median of all {what}", medians), (f"worst of all {what}", worsts)]


def _chart(kind: str, title: str, runs: list[RunRecord], figure: str, *,
           scale: float = 1.0, queues: bool = False) -> str:
    width, height, left, right, top, bottom = 620, 220, 48, 12, 28, 36
    series = [(name, points) for name, points in _series(runs, figure, scale, queues)
              if any(p is not None for p in points)]
    values = [v for _, points in series for v in points if v is not None]
    top_value = max(values) if values else 1.0
    top_value = top_value * 1.1 if top_value > 0 else 1.0
    plot_w, plot_h = width - left - right, height - top - bottom
    count = max(len(runs), 1)

    def x(i: int) -> float:
        return left + (plot_w * i / (count - 1) if count > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / top_value

    body = [f'<text x="{left}" y="16" style="font-weight:600;fill:#1f2328">{escape(title)}'
            "</text>",
            f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
            'stroke="#d0d7de"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#d0d7de"/>',
            f'<text x="4" y="{top + 4}">{top_value:.3g}</text>',
            f'<text x="4" y="{top + plot_h}">0</text>']
    if runs:
        body.append(f'<text x="{left}" y="{height - 18}">{escape(runs[0].at)}</text>')
        body.append(f'<text x="{left + plot_w}" y="{height - 18}" text-anchor="end">'
                    f"{escape(runs[-1].at)}</text>")
    for index, (name, points) in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        body += _line(points, x, y, colour, name)
        if index < 4:  # a legend for the first lines; every line has its name as a title
            body.append(f'<text x="{left + index * 150}" y="{height - 4}" '
                        f'style="fill:{colour}">■ {escape(name[:22])}</text>')
    if not values:
        body.append(f'<text x="{left + 8}" y="{top + plot_h / 2}">no data yet</text>')
    return (f'<svg class="chart" data-chart="{kind}" xmlns="http://www.w3.org/2000/svg" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(title)}">{"".join(body)}</svg>')


def _line(points: Sequence[float | None], x: object, y: object, colour: str,
          name: str) -> list[str]:
    assert callable(x) and callable(y)
    coords = [(x(i), y(v)) for i, v in enumerate(points) if v is not None]
    if not coords:
        return []
    title = f"<title>{escape(name)}</title>"
    if len(coords) == 1:
        cx, cy = coords[0]
        return [f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{colour}">{title}</circle>']
    path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
    return [f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="1.5" '
            f'points="{path}">{title}</polyline>']
