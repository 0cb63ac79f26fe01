"""Start-up continues each display session from its stored snapshot, through the real app.

A clean stop snapshots every session that moved, so the next start-up decides no read again; after
a crash (no snapshot at the stop) it decides only the reads stored after the last one; a snapshot
taken under other rules is not used.  Whichever way, the session after the restart is the one
before it: the same counts, seqs and unknown bibs, and the next read is decided as it would have
been (a re-read inside the duplicate window is a duplicate, not a new finisher).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from race_control.app import RaceControl
from race_control.sessions import snapshot_queries as sq
from race_control.store.models import DisplayEvent, SessionSnapshot
from tests.conftest import Api, make_settings
from tests.display.test_resume import lines, setup_session
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.live_app import drain_until, running, wait_last_seq

KEPT = ("finishers", "suppressed", "last_seq", "unknown_bibs", "rules", "timing_session_ids")


def view(session: dict[str, Any]) -> dict[str, Any]:
    return {k: session[k] for k in KEPT}


async def race(rc: RaceControl, api: Api, n: int) -> tuple[dict[str, Any], RawCtp01Client]:
    session, client = await setup_session(api, rc.timing_port)
    await client.send(lines(1, n))
    await wait_last_seq(rc, api, session["id"], n)
    return session, client


def manual_snapshots(rc: RaceControl) -> None:
    """No rounds every 10 s: the test takes snapshots itself (a slow run must not get one more)."""
    keeper = rc.snapshots
    assert keeper is not None and keeper._task is not None
    keeper._task.cancel()


async def crash_without_snapshot(rc: RaceControl) -> None:
    """What a kill -9 leaves of the snapshots: the last one taken, none at the stop."""
    manual_snapshots(rc)
    rc.snapshots = None


async def duplicate_is_suppressed(rc: RaceControl, api: Api, sid: str, bib: int, seq: int) -> None:
    """Bib ``bib`` read again 2 s after its finish: a duplicate (the engine's window survived)."""
    before = await api.ok("GET", f"/api/sessions/{sid}")
    client = await RawCtp01Client.connect(rc.timing_port)
    await client.handshake("c1")
    await client.send(
        f"CT01_33~{seq}~finish~{bib}~09:{bib // 60:02d}:{bib % 60 + 2:02d}.00~0~0FA22E~1\r\n".encode()
    )
    after = await drain_until(
        rc,
        lambda: api.ok("GET", f"/api/sessions/{sid}"),
        lambda s: s["suppressed"] == before["suppressed"] + 1,
    )
    await client.close()
    assert after["suppressed"] == before["suppressed"] + 1 and after["last_seq"] == before["last_seq"]


async def test_a_clean_stop_snapshots_and_the_restart_decides_nothing_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path / "data")
    async with running(settings) as (rc, api):
        session, _client = await race(rc, api, 30)
        sid = session["id"]
        before = view(await api.ok("GET", f"/api/sessions/{sid}"))
    await RawCtp01Client.close_all()
    caplog.set_level(logging.INFO, logger="race_control.sessions")
    async with running(settings) as (rc, api):
        assert rc.services is not None
        snaps = await rc.services.store.run(sq.load_snapshots)
        assert snaps[sid][1] == 30  # taken at the stop, at the last seq
        assert f"session {sid}: continued from its snapshot (0 stored reads after it)" in caplog.text
        assert view(await api.ok("GET", f"/api/sessions/{sid}")) == before
        await duplicate_is_suppressed(rc, api, sid, 5, 31)
    await RawCtp01Client.close_all()


async def test_after_a_crash_only_the_reads_after_the_last_snapshot_are_decided_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path / "data")
    async with running(settings) as (rc, api):
        manual_snapshots(rc)
        session, client = await race(rc, api, 20)
        sid = session["id"]
        assert rc.snapshots is not None
        assert await rc.snapshots.take(force=True) == 1
        assert await rc.snapshots.take(force=True) == 0  # nothing moved since
        await client.send(lines(21, 32))
        await wait_last_seq(rc, api, sid, 32)
        before = view(await api.ok("GET", f"/api/sessions/{sid}"))
        await crash_without_snapshot(rc)
    await RawCtp01Client.close_all()
    caplog.set_level(logging.INFO, logger="race_control.sessions")
    async with running(settings) as (rc, api):
        assert f"session {sid}: continued from its snapshot (12 stored reads after it)" in caplog.text
        assert view(await api.ok("GET", f"/api/sessions/{sid}")) == before
        await duplicate_is_suppressed(rc, api, sid, 31, 33)  # one of the reads after the snapshot
    await RawCtp01Client.close_all()


async def test_a_snapshot_from_before_a_rule_change_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path / "data")
    async with running(settings) as (rc, api):
        manual_snapshots(rc)
        session, _client = await race(rc, api, 20)
        sid = session["id"]
        assert rc.snapshots is not None and await rc.snapshots.take(force=True) == 1
        await api.ok(
            "PATCH", f"/api/sessions/{sid}", {"rules": {"duplicate_window": 5, "ignore_tags": ["7"]}}
        )
        before = view(await api.ok("GET", f"/api/sessions/{sid}"))
        assert before["suppressed"] == 1  # bib 7 is ignored now
        await crash_without_snapshot(rc)
    await RawCtp01Client.close_all()
    caplog.set_level(logging.INFO, logger="race_control.sessions")
    async with running(settings) as (rc, api):
        assert f"session {sid}: snapshot not used (taken under other rules or streams)" in caplog.text
        assert view(await api.ok("GET", f"/api/sessions/{sid}")) == before
    await RawCtp01Client.close_all()


async def test_a_session_replayed_at_start_up_is_snapshotted_at_the_next_stop(tmp_path: Path) -> None:
    """No snapshot yet (a store from before snapshots, or one refused): start-up replays, and the
    next clean stop writes one even if no read came meanwhile."""
    settings = make_settings(tmp_path / "data")
    async with running(settings) as (rc, api):
        manual_snapshots(rc)
        session, _client = await race(rc, api, 10)
        await crash_without_snapshot(rc)
    await RawCtp01Client.close_all()
    async with running(settings) as (rc, api):
        assert rc.services is not None and rc.services.sessions.from_snapshot == {}
    async with running(settings) as (rc, api):
        assert rc.services is not None and rc.services.sessions.from_snapshot == {session["id"]: 0}


async def test_sessions_with_the_same_rules_and_streams_are_loaded_as_twins(tmp_path: Path) -> None:
    """The second of two sessions with the same event, rules and streams shares the first's
    engine after a restart; each still gets every new finisher, with its own seqs."""
    settings = make_settings(tmp_path / "data")
    async with running(settings) as (rc, api):
        a, client = await setup_session(api, rc.timing_port)
        b = await api.ok("POST", "/api/sessions", {"event_id": a["event_id"], "mode": "results"}, 201)
        stream = (await api.ok("GET", "/api/timing/sessions"))[0]["id"]
        await api.ok("POST", f"/api/sessions/{b['id']}/timing", {"timing_session_id": stream})
        await client.send(lines(1, 12))
        await wait_last_seq(rc, api, a["id"], 12)
        await wait_last_seq(rc, api, b["id"], 12)
    await RawCtp01Client.close_all()
    async with running(settings) as (rc, api):
        assert rc.services is not None
        sessions = rc.services.sessions
        loaded = sorted(sessions.from_snapshot.values())
        assert loaded == [-1, 0]  # one from its snapshot, the other its twin
        assert sessions.get(a["id"]).engine is sessions.get(b["id"]).engine
        client = await RawCtp01Client.connect(rc.timing_port)
        await client.handshake("c1")
        await client.send(lines(13, 14))
        for sid in (a["id"], b["id"]):
            got = await wait_last_seq(rc, api, sid, 14)
            assert got["finishers"] == 14 and got["suppressed"] == 0
        await duplicate_is_suppressed(rc, api, a["id"], 13, 15)
        assert (await api.ok("GET", f"/api/sessions/{b['id']}"))["suppressed"] == 1
    await RawCtp01Client.close_all()


def full_scan_unknowns(conn: Any, session_id: str) -> list[dict[str, Any]]:
    """The reference: every finisher and correction of the session decoded in Python (what
    start-up did before the filter moved into SQL)."""
    t = DisplayEvent.__table__
    rows = conn.execute(
        select(t.c.kind, t.c.payload).where(
            t.c.session_id == session_id, t.c.kind.in_(("finisher", "correction"))
        )
    ).all()
    corrected = {p.get("corrects_seq") for kind, p in rows if kind == "correction"}
    return [
        p for kind, p in rows if kind == "finisher" and not p.get("known", True) and p["seq"] not in corrected
    ]


def no_snapshots(conn: Any) -> None:
    conn.execute(delete(SessionSnapshot.__table__))


async def test_unknown_bibs_after_a_replay_are_those_no_correction_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path / "data")
    async with running(settings) as (rc, api):
        manual_snapshots(rc)
        session, client = await setup_session(api, rc.timing_port)
        sid = session["id"]
        unknown = b"".join(
            f"CT01_33~{n}~finish~{bib}~09:10:{n:02d}.00~0~0FA22E~1\r\n".encode()
            for n, bib in ((1, 60), (2, 61), (3, 62), (4, 61))
        )
        await client.send(unknown + lines(5, 8))
        await wait_last_seq(rc, api, sid, 8)
        await api.ok(
            "POST", f"/api/events/{session['event_id']}/participants", [{"bib": "61", "first_name": "Late"}]
        )
        await drain_until(
            rc, lambda: api.ok("GET", f"/api/sessions/{sid}"), lambda s: s["unknown_bibs"] == ["60", "62"]
        )
        before = view(await api.ok("GET", f"/api/sessions/{sid}"))
        assert rc.services is not None
        got = await rc.services.store.run(sq.uncorrected_unknowns, sid)
        assert got == await rc.services.store.run(full_scan_unknowns, sid)
        assert [p["bib"] for p in got] == ["60", "62"]
        await crash_without_snapshot(rc)
        await rc.services.store.run(no_snapshots)  # none: the restart replays and asks the store
    await RawCtp01Client.close_all()
    async with running(settings) as (rc, api):
        assert rc.services is not None and rc.services.sessions.from_snapshot == {}
        assert view(await api.ok("GET", f"/api/sessions/{sid}")) == before


async def test_a_round_snapshots_a_session_once_it_decided_enough_reads_or_its_snapshot_is_old(
    tmp_path: Path,
) -> None:
    async with running(make_settings(tmp_path / "data")) as (rc, api):
        manual_snapshots(rc)
        keeper = rc.snapshots
        assert keeper is not None
        session, client = await race(rc, api, 5)
        assert await keeper.take() == 1  # never taken: due at once
        keeper.min_reads = 3
        await client.send(lines(6, 7))
        await wait_last_seq(rc, api, session["id"], 7)
        assert await keeper.take() == 0  # 2 reads: not yet
        await client.send(lines(8, 8))
        await wait_last_seq(rc, api, session["id"], 8)
        assert await keeper.take() == 1  # 3 reads since
        await client.send(lines(9, 9))
        await wait_last_seq(rc, api, session["id"], 9)
        assert await keeper.take() == 0
        keeper.max_age = 0.0
        assert await keeper.take() == 1  # 1 read, but the last snapshot is old
        assert await keeper.take() == 0  # nothing moved since
    await RawCtp01Client.close_all()
