"""Per-session analytics: reads and finishers per minute, unknown bibs, suppressions by
reason code (``duplicate``, ``too_soon``, … — see ``sessions.crossing.SUPPRESSION_LABELS``),
read→screen latency percentiles — for the desktop charts, the API and CSV export.

Minutes are on the timing clock (the time of day the mats saw), so an imported file and a
live stream chart the same way.  Qt-free; the queries run on the DB thread, on aggregates kept in
the same transaction as the reads and decisions they count (store migration 0015), so a call
costs the same at 1,000 reads or 1,000,000.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

from sqlalchemy import Connection, select

from race_control.latency import latency_summary
from race_control.sessions.service import SessionService
from race_control.spreadsheet import csv_cell
from race_control.store.models import FinisherMinute, ReadMinute, SuppressionCount, UnknownBib


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
    """From the aggregates (store migration 0015), not the rows: a few small index reads, the
    same whatever the race's size (``tests/display/test_analytics_aggregates.py`` compares them
    with a count of the rows)."""
    rm, fm = ReadMinute.__table__, FinisherMinute.__table__
    ub, sc = UnknownBib.__table__, SuppressionCount.__table__
    reads: Counter[int] = Counter()
    if stream_ids:
        for minute, n in conn.execute(select(rm.c.minute, rm.c.reads).where(rm.c.stream_id.in_(stream_ids))):
            reads[minute] += n
    finishers: Counter[int] = Counter(
        dict(conn.execute(select(fm.c.minute, fm.c.finishers).where(fm.c.session_id == session_id)).all())
    )
    unknown = list(conn.execute(select(ub.c.bib).where(ub.c.session_id == session_id)).scalars())
    reasons: Counter[str] = Counter()
    for code, n in conn.execute(
        select(sc.c.code, sc.c.n).where(sc.c.session_id == session_id, sc.c.n > 0).order_by(sc.c.code)
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
