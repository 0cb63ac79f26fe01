"""A rebuild (bind, rule change) works in slices and keeps the read order (issue #13).

While a session is rebuilt from thousands of stored reads, the loop keeps running other
coroutines — also while the rebuild's finishers are handed to the screens after its commit —
and reads that arrive meanwhile wait for the sessions lock: each is decided once, after the
stored ones, in order, with the next seqs.  Through the real app: a CTP01 client, the API.
"""

from __future__ import annotations

import asyncio
from typing import Any

from race_control.app import RaceControl
from race_control.sessions import queries as q
from tests.conftest import Api
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.live_app import drain_until
from tests.helpers.loop_turns import loop_turns

STORED = 6000  # reads stored before the bind: a rebuild of many slices
LATE = 50  # reads sent while the bind holds the lock
FINISH = {"locations": ["finish"], "duplicate_window": 0}


def lines(first: int, last: int) -> bytes:
    """One finish read per bib ``first``..``last`` (a crossing each), a hundredth apart."""
    return b"".join(
        f"CT01_33~{i}~finish~{i}~09:{i // 6000:02d}:{i // 100 % 60:02d}.{i % 100:02d}~0~0FA22E~1\r\n".encode()
        for i in range(first, last + 1)
    )


async def stored_stream(rc: RaceControl, api: Api) -> tuple[str, str, RawCtp01Client]:
    """(the session, the stream, its client: the caller closes it) An event, a stream of ``STORED`` stored reads, and a session not bound to it yet."""
    event = await api.ok("POST", "/api/events", {"name": "Slices 10K", "date": "2026-06-01"}, 201)
    session = await api.ok(
        "POST", "/api/sessions", {"event_id": event["id"], "mode": "results", "rules": FINISH}, 201
    )
    client = await RawCtp01Client.connect(rc.timing_port)
    await client.handshake("slices")
    await client.send(lines(1, STORED))
    streams = await drain_until(
        rc,
        lambda: api.ok("GET", "/api/timing/sessions"),
        lambda st: bool(st) and st[0]["reads"] >= STORED,
        timeout=60,
    )
    assert streams[0]["reads"] == STORED
    return session["id"], streams[0]["id"], client


async def test_a_bind_lets_the_loop_run_and_reads_arriving_meanwhile_come_after_in_order(
    rc: RaceControl, api: Api
) -> None:
    session_id, stream_id, client = await stored_stream(rc, api)
    try:
        await bind_while_reads_arrive(rc, api, session_id, stream_id, client)
    finally:
        await client.close()


async def bind_while_reads_arrive(
    rc: RaceControl, api: Api, session_id: str, stream_id: str, client: RawCtp01Client
) -> None:
    assert rc.services is not None
    sessions, pipeline = rc.services.sessions, rc.services.pipeline
    published: list[int] = []  # seqs handed to the screens of the session, in order
    sessions.add_publisher(
        lambda sid, payloads: published.extend(p["seq"] for p in payloads if sid == session_id)
    )
    seen: list[tuple[bool, int, int]] = []  # at each turn of the loop: lock held, published, backlog
    done = asyncio.Event()

    async def other_coroutine() -> None:
        while not done.is_set():
            seen.append((sessions.lock.locked(), len(published), pipeline.backlog))
            await asyncio.sleep(0)

    watcher = asyncio.create_task(other_coroutine())
    bind = asyncio.create_task(
        api.ok("POST", f"/api/sessions/{session_id}/timing", {"timing_session_id": stream_id})
    )
    while not sessions.lock.locked():
        await asyncio.sleep(0)
    await client.send(lines(STORED + 1, STORED + LATE))  # while the rebuild holds the lock
    try:
        await bind
    finally:
        done.set()
        await watcher
    # the loop ran while the rebuild decided the stored reads and while it published them
    assert sum(1 for locked, n, _ in seen if locked and n == 0) > 3
    assert any(locked and 0 < n < STORED for locked, n, _ in seen), "published in one go"
    # the late reads waited in the pipeline while the lock was held (not decided by the rebuild)
    assert any(locked and backlog > 0 for locked, _, backlog in seen)
    got = await drain_until(
        rc,
        lambda: api.ok("GET", f"/api/sessions/{session_id}"),
        lambda s: s["finishers"] >= STORED + LATE,
        timeout=30,
    )
    assert got["finishers"] == STORED + LATE
    assert published == list(range(1, STORED + LATE + 1))  # each once, in seq order
    stored: list[dict[str, Any]] = []
    while len(stored) < STORED + LATE:
        page = await sessions.events_after(session_id, len(stored), 5000)
        assert page
        stored.extend(page)
    # seq n shows read n: the stored reads first, then the late ones, in their order
    assert [(p["seq"], p["bib"]) for p in stored] == [(n, str(n)) for n in range(1, STORED + LATE + 1)]


async def test_a_rule_change_decides_reads_arriving_meanwhile_once_after_it(
    rc: RaceControl, api: Api
) -> None:
    session_id, stream_id, client = await stored_stream(rc, api)
    try:
        await change_rules_while_reads_arrive(rc, api, session_id, stream_id, client)
    finally:
        await client.close()


async def change_rules_while_reads_arrive(
    rc: RaceControl, api: Api, session_id: str, stream_id: str, client: RawCtp01Client
) -> None:
    assert rc.services is not None
    sessions = rc.services.sessions
    await api.ok("POST", f"/api/sessions/{session_id}/timing", {"timing_session_id": stream_id})
    await drain_until(
        rc,
        lambda: api.ok("GET", f"/api/sessions/{session_id}"),
        lambda s: s["finishers"] >= STORED,
    )
    published: list[int] = []
    sessions.add_publisher(
        lambda sid, payloads: published.extend(p["seq"] for p in payloads if sid == session_id)
    )
    # a minimum time since the start nobody reaches: every stored read is re-decided, none shown
    rules = {**FINISH, "min_time_since_start": 0, "duplicate_window": 5}
    patch = asyncio.create_task(api.ok("PATCH", f"/api/sessions/{session_id}", {"rules": rules}))
    while not sessions.lock.locked():
        await asyncio.sleep(0)
    await client.send(lines(STORED + 1, STORED + LATE))
    body = await patch
    assert body["rerun"]["newly_shown"] == 0  # the stored ones were all shown already
    got = await drain_until(
        rc,
        lambda: api.ok("GET", f"/api/sessions/{session_id}"),
        lambda s: s["finishers"] >= STORED + LATE,
        timeout=30,
    )
    assert got["finishers"] == STORED + LATE
    assert published == list(range(STORED + 1, STORED + LATE + 1))  # the late reads, once, in order


async def test_what_a_rule_change_replaced_is_freed_in_slices_and_the_new_state_kept(
    rc: RaceControl, api: Api
) -> None:
    """A rebuild's old state (unknown bibs, rankings, the engine's dicts of a million-read session) is
    not dropped at once when the rebuilt one takes its place (freed by reference counting in
    one go on the loop): it is emptied in slices afterwards, and the rebuilt state is intact."""
    session_id, stream_id, client = await stored_stream(rc, api)
    try:
        assert rc.services is not None
        sessions = rc.services.sessions
        await api.ok("POST", f"/api/sessions/{session_id}/timing", {"timing_session_id": stream_id})
        await drain_until(
            rc, lambda: api.ok("GET", f"/api/sessions/{session_id}"), lambda s: s["finishers"] >= STORED
        )
        await asyncio.gather(*sessions._tasks)
        s = sessions.get(session_id)
        old = (s.unknown, s.engine._last)  # no roster: every finisher waits as "Bib N"
        assert all(len(h) == STORED for h in old)
        await api.ok("PATCH", f"/api/sessions/{session_id}", {"rules": {**FINISH, "duplicate_window": 5}})
        await asyncio.gather(*sessions._tasks)
        assert [len(h) for h in old] == [0, 0]  # released (the test's references kept them alive)
        assert sessions.get(session_id) is s
        assert len(s.unknown) == len(s.engine._last) == STORED  # the rebuilt state
        got = await api.ok("GET", f"/api/sessions/{session_id}")
        assert got["finishers"] == STORED
    finally:
        await client.close()


async def test_read_pages_give_the_stored_reads_in_arrival_order_across_pages(
    rc: RaceControl, api: Api
) -> None:
    assert rc.services is not None
    store = rc.services.store
    _session_id, stream_id, client = await stored_stream(rc, api)
    try:
        whole = await store.run(q.stream_reads, [stream_id])
        pages = q.ReadPages([stream_id], size=700)  # pages that do not divide the stream evenly
        got: list[Any] = []
        try:
            while page := await store.run(pages.page):
                got.extend(page)
        finally:
            await store.run(pages.close)
        assert len(whole) == STORED
        assert got == whole
    finally:
        await client.close()


async def test_the_reads_shown_before_but_not_now_are_counted_with_the_loop_running() -> None:
    """A rule change's "shown before but not now" is ``len(shown - crossings)``, counted a slice
    of keys at a time (a million-key set difference held the loop ~100 ms)."""
    from race_control.sessions import service

    shown = {("s1", "finish", i) for i in range(3 * service.COUNT_STEP + 7)}
    crossings = {k for k in shown if k[2] % 3} | {("s2", "finish", 1)}
    async with loop_turns() as turns:
        assert await service.missing_from(shown, crossings) == len(shown - crossings)
    assert turns.count >= 4  # the loop ran between the slices
    assert await service.missing_from(set(), crossings) == 0
    assert await service.missing_from(shown, set()) == len(shown)
