"""recent_reads: the newest stored reads of one stream, newest first, from the real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from race_control.sessions.read_history import recent_reads, stored_decisions
from race_control.store.database import Store
from race_control.store.models import DisplayEvent, DisplaySession, Event, Read, Suppression, TimingStream


def _read(stream: str, n: int, *, location: str = "FINISH", kind: str = "tag") -> dict[str, object]:
    return {
        "stream_id": stream,
        "location": location,
        "seq": n,
        "kind": kind,
        "tag": "guntime" if kind == "gun" else str(100 + n),
        "bib": "" if kind == "gun" else str(100 + n),
        "time_text": f"10:00:{n % 60:02d}.00",
        "clock": 36000.0 + n,
        "lap": 1,
        "reader_id": "0F2A38",
        "gator": 1,
        "raw_n": n,
        "received_at": 1_700_000_000.0 + n,
    }


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(tmp_path / "db.sqlite3")
    s.migrate()

    def fill(conn) -> None:  # type: ignore[no-untyped-def]
        conn.execute(
            TimingStream.__table__.insert(),
            [
                {"id": "a", "protocol": "ctp01", "source_key": "a"},
                {"id": "b", "protocol": "ctp01", "source_key": "b"},
            ],
        )
        rows = [_read("a", n) for n in range(1, 301)]
        rows[149] = _read("a", 150, kind="gun")  # a gun time in the middle
        rows += [_read("b", n, location="9K") for n in range(1, 1001)]  # another stream, newer reads
        conn.execute(Read.__table__.insert(), rows)

    await s.run(fill)
    try:
        yield s
    finally:
        s.close()


async def test_newest_first_for_one_stream_only(store: Store) -> None:
    got = await recent_reads(store, "a", 200)
    assert len(got) == 200
    assert [r.raw_n for r in got[:3]] == [300, 299, 298]
    assert all(r.stream_id == "a" and r.kind == "tag" for r in got)
    assert [r.raw_n for r in got] == sorted((r.raw_n for r in got), reverse=True)
    assert 150 not in {r.raw_n for r in got}  # gun times are not tag reads
    assert got[0].bib == "400" and got[0].location == "FINISH" and got[0].clock == 36300.0


async def test_every_kind_small_and_unknown_limits(store: Store) -> None:
    every = await recent_reads(store, "a", 1000, kind=None)
    assert len(every) == 300 and any(r.kind == "gun" for r in every)
    assert len(await recent_reads(store, "a", 1000)) == 299
    assert await recent_reads(store, "a", 0) == []
    assert await recent_reads(store, "nope", 50) == []
    assert [r.raw_n for r in await recent_reads(store, "b", 2)] == [1000, 999]


async def test_stored_decisions_of_a_session(store: Store) -> None:
    def decide(conn) -> None:  # type: ignore[no-untyped-def]
        conn.execute(Event.__table__.insert().values(id="e", name="E", date="2026-06-01", timezone="UTC"))
        conn.execute(
            DisplaySession.__table__.insert().values(id="s", token="t" * 20, event_id="e", mode="results")
        )
        finisher = {"session_id": "s", "kind": "finisher", "stream_id": "a", "location": "FINISH"}
        conn.execute(
            DisplayEvent.__table__.insert(),
            [
                {**finisher, "seq": 1, "read_seq": 298, "payload": {"seq": 1, "known": True}},
                {**finisher, "seq": 2, "read_seq": 299, "payload": {"seq": 2, "known": False}},
                {
                    **finisher,
                    "seq": 3,
                    "read_seq": 300,
                    "payload": {"seq": 3, "known": True},
                },  # then re-ruled
                {**finisher, "seq": 4, "read_seq": 5, "payload": {"seq": 4}},  # older than asked: ignored
            ],
        )
        conn.execute(
            Suppression.__table__.insert(),
            {
                "session_id": "s",
                "stream_id": "a",
                "location": "FINISH",
                "read_seq": 300,
                "bib": "400",
                "reason": "duplicate (within 30 s)",
            },
        )

    await store.run(decide)
    reads = await recent_reads(store, "a", 4)
    got = await stored_decisions(store, "s", reads)
    assert got == {
        ("a", "FINISH", 300): ("suppressed", "duplicate (within 30 s)"),
        ("a", "FINISH", 299): ("unknown", "#2"),
        ("a", "FINISH", 298): ("shown", "#1"),
    }
    assert await stored_decisions(store, "s", []) == {}
    assert await stored_decisions(store, "other", reads) == {}
