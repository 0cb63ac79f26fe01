"""History exports (docs/history.md): a timing stream as a recording, a session's results as CSV.

Both are read in pages on the store's thread (``Store.run``, one short transaction per page of
``PAGE`` rows) and handed out as byte chunks, so a 250,000-read stream is never one list on the
loop and the writer thread waits for at most one page at a time.  The caller (an HTTP handler)
writes each chunk to its response as it comes.

* ``export_stream``: the stream's stored reads and gun times as CT01_33 lines
  (``CT01_33~seq~location~tag~time~lap~reader~gator``; a gun's tag is ``guntime``), the lines
  ``race-control simulate`` plays from a ``.ctp`` file.  Location by location in sequence
  order, as of the request: reads stored while the export runs are not in it.
  ``fmt="original"`` gives the stored raw lines instead, verbatim, in arrival order.
* ``import_recording``: such a recording (or a raw CTP01 log) back as a stream, each line with
  its recorded ``(location, seq)`` (``timing.ingest.recording_import``).
* ``results_csv``: the session's finishes, each in its latest form (a correction replaces the
  finisher message it corrects), in finish order; cells that a spreadsheet would run as a
  formula are neutralised (``safe_cell``), UTF-8 with a BOM, RFC 4180 quoting and CRLF.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Connection, func, select

from race_control.sessions.service import SessionService
from race_control.spreadsheet import csv_cell
from race_control.store.database import Store
from race_control.store.models import DisplayEvent, RawLine, Read
from race_control.store.unit_of_work import ChangeListener, UnitOfWork
from race_control.timing.ingest.recording_import import feed_recording, load_recording, plan_recording_stream
from race_control.timing.ingest.streams import StreamState, TimingService
from race_control.timing.protocols.chronotrack_time import format_normal
from race_control.timing.protocols.errors import TimingInputError, TimingNotFound

__all__ = ["EXPORT_FORMATS", "RESULT_COLUMNS", "HistoryOperations", "safe_cell"]

PAGE = 2_000  # rows per store call (the store's thread is held for one page at a time)
EXPORT_FORMATS = ("ct01_33", "original")
# OWASP "CSV Injection": a cell starting with one of these is run as a formula by spreadsheets
RESULT_COLUMNS = (
    "seq",
    "bib",
    "name",
    "first_name",
    "last_name",
    "city",
    "state",
    "country",
    "division",
    "team",
    "age",
    "gender",
    "time",
    "time_kind",
    "chip_time",
    "gun_time",
    "place",
    "division_place",
    "location",
    "known",
    "corrected",
)


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a leading ``'`` before a formula start (OWASP),
    ``None`` as empty, booleans as ``true``/``false``; numbers are written by us, never text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return str(csv_cell(str(value)))


def _ctp_field(value: object) -> str:
    """A field of an exported CT01_33 line: no ``~`` or line break can split or end the line."""
    return str(value).replace("~", "-").replace("\r", " ").replace("\n", " ")


def _read_line(row: Any) -> str:
    tag = "guntime" if row.kind == "gun" else row.tag
    time_text = format_normal(round(row.clock * 100))
    fields = (row.seq, row.location, tag, time_text, row.lap, row.reader_id, row.gator)
    return "CT01_33~" + "~".join(_ctp_field(f) for f in fields)


# --- store queries (run on the store's thread) ----------------------------------------------------


def _last_seqs(conn: Connection, stream_id: str) -> list[tuple[str, int]]:
    t = Read.__table__
    q = select(t.c.location, func.max(t.c.seq)).where(t.c.stream_id == stream_id).group_by(t.c.location)
    return [(loc, seq) for loc, seq in conn.execute(q.order_by(t.c.location))]


def _reads_page(conn: Connection, stream_id: str, location: str, after: int, last: int) -> tuple[int, bytes]:
    """The next page as (its last seq, its lines): formatted here, on the store's thread, so
    the loop only writes bytes."""
    t = Read.__table__
    q = (
        select(t.c.seq, t.c.location, t.c.kind, t.c.tag, t.c.clock, t.c.lap, t.c.reader_id, t.c.gator)
        .where(t.c.stream_id == stream_id, t.c.location == location, t.c.seq > after, t.c.seq <= last)
        .order_by(t.c.seq)
        .limit(PAGE)
    )
    rows = conn.execute(q).all()
    text = "".join(_read_line(r) + "\n" for r in rows)
    return (rows[-1].seq if rows else last), text.encode("latin-1", "replace")


def _last_raw(conn: Connection, stream_id: str) -> int:
    t = RawLine.__table__
    return conn.execute(select(func.max(t.c.n)).where(t.c.stream_id == stream_id)).scalar() or 0


def _raw_page(conn: Connection, stream_id: str, after: int, last: int) -> list[tuple[int, str]]:
    t = RawLine.__table__
    q = (
        select(t.c.n, t.c.line)
        .where(t.c.stream_id == stream_id, t.c.n > after, t.c.n <= last)
        .order_by(t.c.n)
        .limit(PAGE)
    )
    return [(n, line) for n, line in conn.execute(q)]


def _last_event(conn: Connection, session_id: str) -> int:
    t = DisplayEvent.__table__
    return conn.execute(select(func.max(t.c.seq)).where(t.c.session_id == session_id)).scalar() or 0


def _events_page(conn: Connection, session_id: str, after: int, last: int) -> list[tuple[int, str, Any]]:
    t = DisplayEvent.__table__
    q = (
        select(t.c.seq, t.c.kind, t.c.payload)
        .where(t.c.session_id == session_id, t.c.seq > after, t.c.seq <= last)
        .where(t.c.kind.in_(("finisher", "correction")))
        .order_by(t.c.seq)
        .limit(PAGE)
    )
    return [(seq, kind, payload) for seq, kind, payload in conn.execute(q)]


class HistoryOperations:
    """The exports; built per request from the running services (it holds no state)."""

    def __init__(
        self,
        store: Store,
        timing: TimingService,
        sessions: SessionService,
        changes: list[ChangeListener] | None = None,
    ) -> None:
        self._store = store
        self._timing = timing
        self._sessions = sessions
        self._changes = changes if changes is not None else []

    async def import_recording(
        self, data: bytes, *, timezone: str | None = None, date: str | None = None, name: str = ""
    ) -> dict[str, Any]:
        """A CT01_33 recording (``export_stream``'s output, or a raw CTP01 log) as a stream:
        every line checked first (a bad one is a ``TimingInputError`` naming it, nothing
        stored), then the stream in one unit of work, then the reads the live way."""
        rec = await load_recording(data, timezone=timezone, date=date, name=name)
        async with self._timing.lock:
            uow = UnitOfWork(self._store, self._changes)
            state = plan_recording_stream(self._timing, uow, rec)
            await uow.commit()
        return await feed_recording(self._timing, state, rec)

    def stream(self, stream_id: str, fmt: str) -> StreamState:
        """The stream to export (``TimingNotFound``) and a known ``fmt`` (``TimingInputError``),
        checked before any byte is sent."""
        if fmt not in EXPORT_FORMATS:
            raise TimingInputError(f"'format' must be one of {', '.join(EXPORT_FORMATS)}, not {fmt[:40]!r}")
        state = self._timing.stream(stream_id)
        if state is None:
            raise TimingNotFound(f"timing session {stream_id[:64]!r} does not exist")
        return state

    async def export_stream(self, state: StreamState, fmt: str = "ct01_33") -> AsyncIterator[bytes]:
        """The recording, one chunk per page (latin-1, the wire's encoding; ``\\n`` line ends)."""
        store, sid = self._store, state.id
        if fmt == "original":
            last, after = await store.run(_last_raw, sid), 0
            while after < last and (rows := await store.run(_raw_page, sid, after, last)):
                after = rows[-1][0]
                yield "".join(line.rstrip("\r\n") + "\n" for _, line in rows).encode("latin-1", "replace")
            return
        yield _header(state).encode("latin-1", "replace")
        for location, last in await store.run(_last_seqs, sid):
            after = 0
            while after < last:
                after, chunk = await store.run(_reads_page, sid, location, after, last)
                yield chunk

    async def results_csv(self, session_id: str) -> AsyncIterator[bytes]:
        """The session's finishes as CSV (``RESULT_COLUMNS``); raises ``SessionNotFound`` before
        the first chunk.  Finishes are collected by seq (a correction may come pages later),
        one small dict per finish, then written in pages."""
        session = self._sessions.get(session_id)
        last, after = await self._store.run(_last_event, session.id), 0
        finishes: dict[int, dict[str, Any]] = {}
        while after < last and (rows := await self._store.run(_events_page, session.id, after, last)):
            after = rows[-1][0]
            for seq, kind, payload in rows:
                if kind == "finisher":
                    finishes[seq] = _result_row(payload, corrected=False)
                elif (of := payload.get("corrects_seq")) in finishes:
                    finishes[of] = _result_row({**payload, "seq": of}, corrected=True)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(RESULT_COLUMNS)
        yield ("\ufeff" + out.getvalue()).encode("utf-8")
        rows_out = list(finishes.values())
        for start in range(0, len(rows_out), PAGE):
            out.seek(0)
            out.truncate()
            writer.writerows(rows_out[start : start + PAGE])
            yield out.getvalue().encode("utf-8")


def _result_row(payload: dict[str, Any], *, corrected: bool) -> list[str]:
    values = {**payload, "corrected": corrected}
    return [safe_cell(values.get(c)) for c in RESULT_COLUMNS]


def _header(state: StreamState) -> str:
    """Comment lines ``simulate`` skips (no ``CT01_33~`` in them: ``_ctp_field`` removes every ``~``)."""
    about = {
        "stream": state.id,
        "protocol": state.protocol,
        "source": state.source_key,
        "client": state.client,
        "event": state.event_name,
        "reference_date": state.reference_date,
        "timezone": state.timezone,
    }
    return "".join(f"# {k}: {_ctp_field(v)}\n" for k, v in about.items())
