"""Per-session analytics: reads and finishers per minute, unknown bibs, suppressions by
reason code (``duplicate``, ``too_soon``, … — see ``sessions.crossing.SUPPRESSION_LABELS``),
read→screen latency percentiles — for the desktop charts, the API and CSV export.

Minutes are on the timing clock (the time of day the mats saw), so an imported file and a
live stream chart the same way.  Qt-free; the queries run on the DB thread.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

from sqlalchemy import Connection, and_, func, select

from race_control.latency import latency_summary
from race_control.sessions.service import SessionService
from race_control.spreadsheet import csv_cell
from race_control.store.models import DisplayEvent, Read, Suppression


def _label(minute: int) -> str:
    h, m = divmod(minute, 60)
    return f"{h:02d}:{m:02d}"


def _series(counter: Counter[int]) -> list[list[Any]]:
    if not counter:
        return []
    lo, hi = min(counter), max(counter)
    if hi - lo > 48 * 60:  # never draw more than two days of empty minutes
        return [[_label(m), counter[m]] for m in sorted(counter)]
    return [[_label(m), counter.get(m, 0)] for m in range(lo, hi + 1)]


def _query(conn: Connection, session_id: str, stream_ids: list[str]) -> dict[str, Any]:
    r, d, s = Read.__table__, DisplayEvent.__table__, Suppression.__table__
    reads: Counter[int] = Counter()
    if stream_ids:
        for (clock,) in conn.execute(
            select(r.c.clock).where(r.c.stream_id.in_(stream_ids), r.c.kind == "tag")
        ):
            reads[int(clock // 60)] += 1
    finishers: Counter[int] = Counter()
    unknown: list[str] = []
    joined = d.join(
        r, and_(r.c.stream_id == d.c.stream_id, r.c.location == d.c.location, r.c.seq == d.c.read_seq)
    )
    rows = conn.execute(
        select(r.c.clock, d.c.payload)
        .select_from(joined)
        .where(d.c.session_id == session_id, d.c.kind == "finisher")
    )
    for clock, payload in rows:
        finishers[int(clock // 60)] += 1
        if not payload.get("known", True):
            unknown.append(payload.get("bib", ""))
    reasons: Counter[str] = Counter()
    for code, n in conn.execute(
        select(s.c.code, func.count()).where(s.c.session_id == session_id).group_by(s.c.code)
    ):
        reasons[code or "other"] += n
    return {"reads": reads, "finishers": finishers, "unknown": unknown, "reasons": reasons}


async def session_analytics(
    sessions: SessionService, session_id: str, samples: list[float]
) -> dict[str, Any]:
    """``samples``: the read → screen latencies (ms) the session's screens reported."""
    s = sessions.get(session_id)
    data = await sessions.store.run(_query, s.id, sorted(s.streams))

    return {
        "session_id": s.id,
        "reads_per_minute": _series(data["reads"]),
        "finishers_per_minute": _series(data["finishers"]),
        "reads": sum(data["reads"].values()),
        "finishers": sum(data["finishers"].values()),
        "unknown_bibs": sorted(set(data["unknown"]), key=lambda b: (len(b), b)),
        "suppressed_by_reason": dict(data["reasons"].most_common()),
        "duplicates_suppressed": data["reasons"].get("duplicate", 0),
        "latency_ms": {**latency_summary(samples, digits=2), "samples": len(samples)},
    }


class _SafeWriter:
    """``csv.writer`` whose every cell goes through ``csv_cell``: the one way we write CSV."""

    def __init__(self, out: io.StringIO) -> None:
        self._w = csv.writer(out)

    def writerow(self, row: list[object]) -> None:
        self._w.writerow([csv_cell(v) for v in row])


def analytics_csv(report: dict[str, Any]) -> str:
    """One CSV a spreadsheet opens: per-minute rows, then the totals.  Cells from participants
    or timing clients (unknown bibs, reason codes) cannot run as formulas (``csv_cell``)."""
    out = io.StringIO()
    w = _SafeWriter(out)
    w.writerow(["minute", "reads", "finishers"])
    reads = dict(map(tuple, report["reads_per_minute"]))
    fins = dict(map(tuple, report["finishers_per_minute"]))
    for minute in sorted(set(reads) | set(fins)):
        w.writerow([minute, reads.get(minute, 0), fins.get(minute, 0)])
    w.writerow([])
    w.writerow(["metric", "value"])
    w.writerow(["reads", report["reads"]])
    w.writerow(["finishers", report["finishers"]])
    w.writerow(["unknown bibs", " ".join(report["unknown_bibs"])])
    for reason, n in report["suppressed_by_reason"].items():
        w.writerow([f"suppressed: {reason}", n])
    for key, value in report["latency_ms"].items():
        w.writerow([f"latency {key}", "" if value is None else value])
    return out.getvalue()
