"""Live sessions that decide alike share one crossing engine, and leave it the moment they diverge.

``sessions.engine_sharing``: open sessions with the same event, rules and streams that decided the
same reads hold one engine between them (each read decided once for all of them); a session gets
its own the moment its fingerprint or status diverges (new rules, a bind or an unbind rebuild it;
closing keeps a copy; a read decided for it alone copies first), and an engine another session
still uses is never changed by it.  What every session shows — finishers, suppressions, places,
seqs — is what sessions of their own, fed the same reads, show.
"""

from __future__ import annotations

import asyncio
from typing import Any

from race_control.app import RaceControl
from race_control.roster.participants import ParticipantRow
from race_control.sessions.crossing import CrossingEngine
from race_control.sessions.engine_sharing import leave, same_state, share
from race_control.sessions.live import Derived, LiveSession
from race_control.sessions.replay import replaying
from race_control.sessions.snapshot import capture, capture_sliced
from race_control.store.json_text import dumps_compact
from race_control.timing.ingest.stored_read import StoredRead
from tests.conftest import Api
from tests.display.test_resume import lines
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.live_app import drain_until
from tests.sessions.test_snapshot import lookup, race, record, run, state


def built(reads: list[StoredRead], sid: str = "sess-1", by: Any = lookup) -> LiveSession:
    return run(replaying(record(sid=sid), by, reads, log=False)).session


def copied(e: CrossingEngine) -> tuple[Any, ...]:
    """An engine's state as a copy nobody changes (to see that it did not move)."""
    guns, last, runs, starts = e.state()
    return {k: list(v) for k, v in guns.items()}, dict(last), dict(runs), dict(starts)


def shown(out: Derived, sid: str) -> list[tuple[Any, ...]]:
    """What ``sid``'s screens were sent and its suppression log got (no session id or clock)."""
    events = [(e["seq"], e["kind"], {**e["payload"]}) for e in out.events if e["session_id"] == sid]
    sups = [
        (x["read_seq"], x["bib"], x["code"], x["reason"]) for x in out.suppressions if x["session_id"] == sid
    ]
    return [*events, *sups]


def decide_live(sessions: list[LiveSession], reads: list[StoredRead]) -> Derived:
    """``SessionService.derive``: each read through every session, once per engine."""
    out = Derived()
    for read in reads:
        seen: dict[int, Any] = {}
        for s in sessions:
            s.decide(read, out, seen=seen)
    return out


def test_sessions_that_decided_alike_share_one_engine_and_show_what_sessions_of_their_own_show() -> None:
    reads = race()
    cut = 120
    a, b = built(reads[:cut]), built(reads[:cut], "sess-2")
    assert a.engine is not b.engine
    given_up = asyncio.run(share(b, [a, b]))
    assert given_up is not None and given_up is not a.engine
    assert b.engine is a.engine and a.engine_shared and b.engine_shared
    out = decide_live([a, b], reads[cut:])
    # each read was decided once by the shared engine: twice, every read would be its own duplicate
    ref_a, ref_b = built(reads[:cut]), built(reads[:cut], "sess-2")
    ref = decide_live([ref_a], reads[cut:])
    ref_2 = decide_live([ref_b], reads[cut:])
    assert shown(out, "sess-1") == shown(ref, "sess-1") and shown(out, "sess-1")
    assert shown(out, "sess-2") == shown(ref_2, "sess-2")
    alone = built(reads)
    assert state(a) == state(alone) and state(b) == state(alone)
    # and they hold one finisher message's texts and one leaderboard entry between them
    before = set(built(reads[:cut])._ranked)
    new = [bib for bib in a._ranked if bib not in before]
    assert new and all(a._ranked[bib] is b._ranked[bib] for bib in new)
    mine, theirs = (
        [e["payload"] for e in out.events if e["session_id"] == sid] for sid in ("sess-1", "sess-2")
    )
    assert all(
        p["name"] is q["name"] and p["time"] is q["time"] and p is not q
        for p, q in zip(mine, theirs, strict=True)
    )


def test_a_session_whose_engine_decided_otherwise_keeps_its_own() -> None:
    """The same fingerprint and the same reads, but the roster put bib 50 in wave B (its gun set
    by hand at 09:10) before one of them decided its read at the shared start/finish mat: one
    took it as its start, the other as its finish.  They would decide its next read apart."""
    reads = race()
    late = StoredRead("s1", "finish", 999, "tag", "50", "50", "", 9 * 3600 + 900.0, 0, "", 0, 999, 2e9)
    waved = ParticipantRow(bib="50", first_name="Zoe", last_name="Ng", wave="B")

    def moved(event: str, bib: str) -> ParticipantRow | None:
        return waved if bib == "50" else lookup(event, bib)

    a, b = built([*reads, late]), built([*reads, late], "sess-2", moved)
    assert a.decided_to == b.decided_to
    assert not asyncio.run(same_state(a.engine, b.engine))
    assert asyncio.run(share(b, [a, b])) is None and b.engine is not a.engine and not b.engine_shared
    c = built([*reads, late], "sess-3")
    assert asyncio.run(share(c, [a, b, c])) is not None and c.engine is a.engine


def test_a_read_decided_for_one_session_alone_copies_the_shared_engine_first() -> None:
    """A replay of another stream into one session (``operations.replay``: ``decide`` without
    ``seen``) must not reach the sessions it shares an engine with."""
    reads = race()
    a, b = built(reads[:150]), built(reads[:150], "sess-2")
    asyncio.run(share(b, [a, b]))
    shared = a.engine
    before = copied(shared)
    extra = StoredRead("s3", "finish", 1, "tag", "7", "7", "", 9 * 3600 + 4000.0, 0, "", 0, 1, 2e9)
    assert b.decide(extra, Derived()) is not None
    assert b.engine is not shared and not b.engine_shared and a.engine is shared
    assert copied(shared) == before
    ref = built(reads[:150], "sess-2")
    ref.decide(extra, Derived())
    assert state(b) == state(ref)


def test_leaving_keeps_a_copy_and_the_others_go_on_with_the_engine() -> None:
    reads = race()
    a, b, c = built(reads[:100]), built(reads[:100], "sess-2"), built(reads[:100], "sess-3")
    for s in (b, c):
        asyncio.run(share(s, [a, b, c]))
    shared = a.engine
    assert b.engine is shared and c.engine is shared
    before = copied(shared)
    leave(b, [a, b, c])
    assert b.engine is not shared and copied(b.engine) == before and not b.engine_shared
    assert a.engine is shared and a.engine_shared  # c still shares it
    decide_live([a, c], reads[100:])
    assert copied(b.engine) == before  # what the others decided did not reach it
    leave(c, [a, b, c])
    assert not a.engine_shared  # the last one holding it
    assert state(a) == state(built(reads))


async def test_sessions_sharing_an_engine_are_snapshotted_with_one_copy_of_it() -> None:
    """The keeper captures a shared engine once for all its sessions (``capture_sliced``'s
    ``engines``): each snapshot is still the session's own ``capture``."""
    reads = race()
    a, b = built(reads), built(reads, "sess-2")
    await share(b, [a, b])
    engines: dict[int, Any] = {}
    got_a, got_b = await capture_sliced(a, engines), await capture_sliced(b, engines)
    assert got_a.state == capture(a).state and got_b.state == capture(b).state
    assert all(got_a.state[k] is got_b.state[k] for k in ("last", "runs", "starts"))
    assert got_a.state["ranked"] is not got_b.state["ranked"]


# --- through the real app -------------------------------------------------------------------------


def reread(seq: int, bib: int, after: int) -> bytes:
    """Bib ``bib`` read again ``after`` seconds after its finish (``lines``' clocks)."""
    return f"CT01_33~{seq}~finish~{bib}~09:{bib // 60:02d}:{bib % 60 + after:02d}.00~0~0FA22E~1\r\n".encode()


async def test_live_sessions_share_an_engine_until_one_changes_and_show_what_sessions_of_their_own_show(
    rc: RaceControl, api: Api
) -> None:
    """A and B (one event, the same rules, bound to one stream) share an engine; each shows what a
    session of its own (the same rules on another event with the same roster) shows, through new
    rules for B, B's rules set back (its rebuild shares A's engine again) and A closing."""
    assert rc.services is not None
    sessions = rc.services.sessions
    events = [
        await api.ok("POST", "/api/events", {"name": f"10K {k}", "date": "2026-06-01"}, 201) for k in range(3)
    ]
    for e in events:
        runners = [{"bib": str(b), "first_name": f"Runner{b}", "last_name": "X"} for b in range(1, 41)]
        await api.ok("POST", f"/api/events/{e['id']}/participants", runners)
    rules = {"duplicate_window": 30}

    async def create(event: dict[str, Any]) -> str:
        body = {"event_id": event["id"], "mode": "results", "rules": rules}
        return str((await api.ok("POST", "/api/sessions", body, 201))["id"])

    a, b, ref_a, ref_b = [await create(e) for e in (events[0], events[0], events[1], events[2])]
    client = await RawCtp01Client.connect(rc.timing_port)
    await client.handshake("c1")
    streams: list[dict[str, Any]] = []
    while not streams:
        streams = await api.ok("GET", "/api/timing/sessions")
    for sid in (a, b, ref_a, ref_b):
        await api.ok("POST", f"/api/sessions/{sid}/timing", {"timing_session_id": streams[0]["id"]})

    def engine(sid: str) -> CrossingEngine:
        return sessions.get(sid).engine

    async def sent(data: bytes, sid: str, seq: int) -> None:
        await client.send(data)
        got = await drain_until(
            rc, lambda: api.ok("GET", f"/api/sessions/{sid}"), lambda s: s["last_seq"] == seq
        )
        assert got["last_seq"] == seq

    async def same_as_their_own() -> None:
        for sid, ref in ((a, ref_a), (b, ref_b)):
            mine, theirs = await sessions.events_after(sid, 0), await sessions.events_after(ref, 0)
            assert mine == theirs and mine
            keys = ("read_seq", "bib", "code", "reason")
            got = [{k: r[k] for k in keys} for r in await sessions.suppressions(sid)]
            assert got == [{k: r[k] for k in keys} for r in await sessions.suppressions(ref)]
            assert view(await api.ok("GET", f"/api/sessions/{sid}")) == view(
                await api.ok("GET", f"/api/sessions/{ref}")
            )

    assert engine(a) is engine(b)
    assert len({id(engine(sid)) for sid in (a, ref_a, ref_b)}) == 3
    await sent(lines(1, 10) + reread(11, 3, 2), a, 10)
    await same_as_their_own()

    shared = engine(a)
    before = copied(shared)
    for sid in (b, ref_b):  # B diverges: its rebuild builds its own engine, A's is not touched
        await api.ok("PATCH", f"/api/sessions/{sid}", {"rules": {"duplicate_window": 1}})
    await asyncio.gather(*sessions._tasks)  # what B's rebuild replaced is freed in slices: not A's engine
    assert engine(b) is not shared and engine(a) is shared and copied(shared) == before
    await sent(lines(12, 15) + reread(16, 12, 3), a, 14)
    await same_as_their_own()

    for sid in (b, ref_b):  # back to A's rules: rebuilt from the stored reads, B holds A's state again
        await api.ok("PATCH", f"/api/sessions/{sid}", {"rules": rules})
    assert engine(b) is engine(a)
    await sent(lines(17, 20) + reread(21, 18, 1), a, 18)
    await same_as_their_own()

    for sid in (a, ref_a):  # A closes: it keeps the engine as it stood, B goes on with it
        await api.ok("PATCH", f"/api/sessions/{sid}", {"status": "closed"})
    closed = copied(engine(a))
    assert engine(a) is not engine(b)
    await sent(b"CT01_33~1~start~guntime~09:30:00.00~0~DF239A~0\r\n" + lines(22, 24), b, 23)
    assert copied(engine(a)) == closed and not engine(a).guns and engine(b).guns
    await same_as_their_own()
    await client.close()


def view(session: dict[str, Any]) -> dict[str, Any]:
    kept = ("finishers", "suppressed", "last_seq", "unknown_bibs", "rules", "status", "mode")
    return {k: session[k] for k in kept}


def test_each_session_stores_the_very_text_of_its_own_message() -> None:
    """Sessions showing one crossing store texts made from its shared part once
    (``finisher.stored_text``): each must be ``dumps_compact`` of that session's own message —
    its seq, its places (None when not ranked), the runner's fields."""
    reads = race()
    a, b = built(reads[:120]), built(reads[:120], "sess-2")
    asyncio.run(share(b, [a, b]))
    solo = built(reads[:60], "sess-3")  # an engine and places of its own
    out = decide_live([a, b, solo], reads[120:])
    rows = [e for e in out.events if e["kind"] == "finisher"]
    assert {e["session_id"] for e in rows} == {"sess-1", "sess-2", "sess-3"}
    assert all(e["text"] == dumps_compact(e["payload"]) for e in rows)
    places = [(e["payload"]["place"], e["payload"]["division_place"]) for e in rows]
    assert (None, None) in places and any(p and d for p, d in places)
    assert len({e["payload"]["seq"] for e in rows}) > 1
