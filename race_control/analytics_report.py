"""The printable race-day report of a display session (docs/history.md "Race-day report").

Pure: the session's facts and the answer of ``analytics.session_analytics`` in, one
self-contained HTML page out — charts are inline SVG drawn here, no script, no remote
resource, one ``<style>`` allowed by its hash (``REPORT_CSP``).  Every text from users,
participants or timing clients (names, rules, bibs, reason codes, screen ids) goes through
``html.escape``; numbers are formatted by us.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from datetime import UTC, datetime
from typing import Any

from race_control.sessions.crossing import SUPPRESSION_LABELS

CSS = """
:root{color-scheme:light}
*{box-sizing:border-box}
body{font:11pt/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111;margin:0;padding:12mm;
max-width:210mm}
h1{font-size:20pt;margin:0 0 2mm}
h2{font-size:14pt;margin:6mm 0 2mm;border-bottom:1px solid #999;padding-bottom:1mm}
h3{font-size:11pt;margin:4mm 0 1mm}
.sub{color:#444;margin:0 0 4mm}
dl{display:grid;grid-template-columns:max-content 1fr;gap:1mm 5mm;margin:0}
dt{font-weight:600;color:#333}
dd{margin:0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{border:1px solid #bbb;padding:1mm 2mm;text-align:left;vertical-align:top;overflow-wrap:anywhere}
#totals table{width:auto;min-width:60%}
td.n{text-align:right;white-space:nowrap;overflow-wrap:normal}
th{overflow-wrap:normal}
svg{display:block;width:100%;height:auto;margin:1mm 0 3mm}
svg text{font-family:system-ui,sans-serif}
.chart{break-inside:avoid;page-break-inside:avoid}
.page{break-before:page;page-break-before:always}
.bibs{overflow-wrap:anywhere;font-family:ui-monospace,monospace;font-size:9pt}
footer{margin-top:6mm;color:#666;font-size:8pt}
@page{margin:12mm}
@media print{body{padding:0;max-width:none}h2{margin-top:0}}
@media screen{.page{border-top:2px dashed #ccc;margin-top:8mm;padding-top:4mm}}
"""

_STYLE_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
# nothing loads, nothing runs: only our own <style> (by hash) and SVG drawn inline
REPORT_CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

READS_COLOUR, FINISHERS_COLOUR, BAR_COLOUR = "#2b6cb0", "#d9480f", "#5f3dc4"
LATENCY_COLOURS = (("p50", "#2f9e44"), ("p95", "#f08c00"), ("p99", "#c92a2a"))
W = 720  # SVG user units across (scaled to the page width)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _u(value: object) -> str:
    """User text: escaped, and isolated so right-to-left text or a stray U+202E cannot reorder
    what follows it."""
    return f"<bdi>{_e(value)}</bdi>"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(value: float | int | None) -> str:
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _svg(height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" role="img" '
        f'aria-label="{_e(title)}"><title>{_e(title)}</title>{"".join(body)}</svg>'
    )


def _nothing(title: str, what: str) -> str:
    return _svg(
        40,
        [
            f'<rect x="0.5" y="0.5" width="{W - 1}" height="39" fill="none" stroke="#bbb"/>',
            f'<text x="{W / 2}" y="25" text-anchor="middle" font-size="13" fill="#666">{_e(what)}</text>',
        ],
        title,
    )


def _nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (an axis top a reader can read)."""
    if value <= 0:
        return 1
    step = 1.0
    while step * 10 <= value:
        step *= 10
    while step > value * 10:
        step /= 10
    for m in (1, 2, 5, 10):
        if step * m >= value:
            return step * m
    return step * 10


def per_minute_chart(report: dict[str, Any]) -> str:
    """Reads (bars) and finishers (narrower bars in front) per minute on the timing clock."""
    title = "Reads and finishers per minute"
    reads = dict(map(tuple, report["reads_per_minute"]))
    fins = dict(map(tuple, report["finishers_per_minute"]))
    minutes = sorted(set(reads) | set(fins))
    if not minutes:
        return _nothing(title, "no reads")
    top = _nice_max(max([*reads.values(), *fins.values(), 1]))
    left, right, y0, h = 48, 8, 10, 190
    plot_w = W - left - right
    slot = plot_w / len(minutes)
    body = []
    steps = next(n for n in (4, 5, 2, 1) if top % n == 0)  # whole-number gridlines
    for i in range(steps + 1):  # grid lines and y labels
        v = top * i / steps
        y = y0 + h - h * i / steps
        body.append(f'<line x1="{left}" x2="{W - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        label = f"{v:g}"
        body.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{label}</text>')
    for i, minute in enumerate(minutes):
        x = left + i * slot
        for value, colour, inset in (
            (reads.get(minute, 0), READS_COLOUR, 0.1),
            (fins.get(minute, 0), FINISHERS_COLOUR, 0.3),
        ):
            bh = h * value / top
            if bh > 0:
                body.append(
                    f'<rect x="{x + slot * inset:.2f}" y="{y0 + h - bh:.2f}" width="{max(slot * (1 - 2 * inset), 0.5):.2f}" '
                    f'height="{bh:.2f}" fill="{colour}"><title>{_e(minute)}: {value}</title></rect>'
                )
    every = max(1, -(-len(minutes) // 8))  # at most ~8 x labels
    for i in range(0, len(minutes), every):
        x = left + (i + 0.5) * slot
        body.append(
            f'<text x="{x:.1f}" y="{y0 + h + 16}" text-anchor="middle" font-size="11">{_e(minutes[i])}</text>'
        )
    ly = y0 + h + 36
    body.append(f'<rect x="{left}" y="{ly - 10}" width="12" height="12" fill="{READS_COLOUR}"/>')
    body.append(f'<text x="{left + 16}" y="{ly}" font-size="12">reads ({_num(report["reads"])})</text>')
    body.append(f'<rect x="{left + 160}" y="{ly - 10}" width="12" height="12" fill="{FINISHERS_COLOUR}"/>')
    body.append(
        f'<text x="{left + 176}" y="{ly}" font-size="12">finishers ({_num(report["finishers"])})</text>'
    )
    return _svg(ly + 8, body, title)


def bar_chart(title: str, rows: list[tuple[str, float]], colour: str = BAR_COLOUR, unit: str = "") -> str:
    """Horizontal bars, one per (label, value), the value printed at the bar's end."""
    if not rows:
        return _nothing(title, "none")
    top = _nice_max(max(v for _, v in rows))
    left, right, row_h = 220, 70, 24
    plot_w = W - left - right
    body = []
    for i, (label, value) in enumerate(rows):
        y = 6 + i * row_h
        bw = plot_w * value / top
        shown = _short(label, 32)
        body.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" font-size="12">{_e(shown)}</text>')
        body.append(
            f'<rect x="{left}" y="{y + 3}" width="{max(bw, 1):.2f}" height="{row_h - 8}" fill="{colour}"/>'
        )
        body.append(
            f'<text x="{left + bw + 5:.2f}" y="{y + 15}" font-size="12">{_e(_num(value))}{unit}</text>'
        )
    return _svg(12 + len(rows) * row_h, body, title)


def latency_chart(screens: list[dict[str, Any]]) -> str:
    """Per screen: p50, p95, p99 of its read → screen latency (ms), one bar each."""
    title = "Read → screen latency per screen (ms)"
    measured = [s for s in screens if s["latency_ms"]["p50"] is not None]
    if not measured:
        return _nothing(title, "no screen reported a latency")
    top = _nice_max(max(s["latency_ms"]["p99"] for s in measured))
    left, right, bar_h = 220, 90, 12
    group_h = bar_h * 3 + 12
    plot_w = W - left - right
    body = []
    for i, s in enumerate(measured):
        y = 6 + i * group_h
        label = _short(s["screen"], 32)
        body.append(f'<text x="{left - 6}" y="{y + 22}" text-anchor="end" font-size="12">{_e(label)}</text>')
        for j, (key, colour) in enumerate(LATENCY_COLOURS):
            value = s["latency_ms"][key]
            bw = plot_w * value / top
            by = y + j * bar_h
            body.append(
                f'<rect x="{left}" y="{by}" width="{max(bw, 1):.2f}" height="{bar_h - 2}" fill="{colour}"/>'
            )
            body.append(
                f'<text x="{left + bw + 5:.2f}" y="{by + 9}" font-size="10">{key} {_num(value)}</text>'
            )
    return _svg(12 + len(measured) * group_h, body, title)


def _dl(items: list[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _rule_value(value: object) -> str:
    if isinstance(value, list | dict):
        return _e(json.dumps(value, ensure_ascii=False)) if value else "—"
    return _e(value)


def render_report(
    event: dict[str, Any],
    session: dict[str, Any],
    report: dict[str, Any],
    screens: list[dict[str, Any]],
    generated_at: float,
    screens_seen: int | None = None,
) -> str:
    """The page.  ``event``: ``EventInfo.to_json()``; ``session``: ``LiveSession.to_json()``;
    ``report``: ``analytics.session_analytics``; ``screens``: one ``{"screen", "user_agent",
    "latency_ms": {p50, p95, p99}, "samples"}`` per connected screen; ``screens_seen``: every
    distinct screen that ever connected (the history's count, stored: it survives the screens
    leaving and restarts; ``None``: the connected ones)."""
    reasons = report["suppressed_by_reason"]
    reason_rows = [(SUPPRESSION_LABELS.get(code, code), n) for code, n in reasons.items()]
    unknown = report["unknown_bibs"]
    streams = session["timing_session_ids"]
    header = _dl(
        [
            ("Event", _u(event["name"])),
            ("Event date", _e(event["date"])),
            ("Timezone", _e(event["timezone"])),
            ("Session", _u(session["name"]) if session["name"] else "—"),
            ("Session id", _e(session["id"])),
            ("Mode", _e(session["mode"])),
            ("Status", _e(session["status"])),
            ("Created", _when(session["created_at"])),
            ("Mode changed", f"{_when(session['mode_changed_at'])} {_e(session['mode_changed_by'])}".strip()),
            ("Streams bound", _e(", ".join(streams)) if streams else "none"),
        ]
    )
    rules = _dl([(k.replace("_", " "), _rule_value(v)) for k, v in session["rules"].items()])
    totals = "".join(
        f"<tr><th>{_e(k)}</th><td class=n>{v}</td></tr>"
        for k, v in [
            ("Reads", _num(report["reads"])),
            ("Finishers", _num(report["finishers"])),
            ("Unknown bibs", _num(len(unknown))),
            ("Suppressed", _num(sum(reasons.values()))),
            *((f"Suppressed: {label}", _num(n)) for label, n in reason_rows),
            ("Screens seen", _num(len(screens) if screens_seen is None else screens_seen)),
            ("Latency samples", _num(report["latency_ms"]["samples"])),
            *((f"Latency {k} (ms)", _num(report["latency_ms"][k])) for k, _ in LATENCY_COLOURS),
        ]
    )
    screen_rows = "".join(
        f"<tr><td>{_u(s['screen'])}</td><td>{_e(_short(s['user_agent'], 60))}</td><td class=n>{_num(s['samples'])}</td>"
        + "".join(f"<td class=n>{_num(s['latency_ms'][k])}</td>" for k, _ in LATENCY_COLOURS)
        + "</tr>"
        for s in screens
    )
    title = f"Race-day report — {event['name']} — {session['name'] or session['id']}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="referrer" content="no-referrer">
<title>{_e(title)}</title><style>{CSS}</style></head>
<body>
<section id="header"><h1><bdi>{_e(event["name"])}</bdi></h1>
<p class="sub">Race-day report · session <bdi>{_e(session["name"] or session["id"])}</bdi></p>
<h2>Session</h2>{header}
<h2>Rules</h2>{rules}</section>
<section id="totals" class="chart"><h2>Totals</h2><table>{totals}</table></section>
<section id="per-minute" class="page"><h2>Reads and finishers per minute</h2>
<div class="chart">{per_minute_chart(report)}</div>
<p class="sub">Minutes on the timing clock (the time of day the mats saw).</p></section>
<section id="unknown" class="page"><h2>Unknown bibs</h2>
<div class="chart">{bar_chart("Finishers and unknown bibs", [("finishers", report["finishers"]), ("unknown bibs", len(unknown))] if report["finishers"] or unknown else [], FINISHERS_COLOUR)}</div>
<p class="bibs">{"Unknown bibs: " + _e(" ".join(unknown)) if unknown else "No unknown bibs."}</p></section>
<section id="suppressions" class="chart"><h2>Suppressions by reason</h2>
{bar_chart("Suppressions by reason", reason_rows)}</section>
<section id="latency" class="chart"><h2>Per-screen latency (screens connected now)</h2>{latency_chart(screens)}
<table><tr><th>Screen</th><th>Browser</th><th>Samples</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th></tr>
{screen_rows or '<tr><td colspan="6">No screen connected.</td></tr>'}</table></section>
<footer>Generated {_when(generated_at)} by Race Control.</footer>
</body></html>
"""
