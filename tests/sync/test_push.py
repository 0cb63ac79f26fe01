"""Outbox + push against a real PostgreSQL (migrated, row-level security on, a partner login).

The rounds are driven by hand here (``read_batch`` → ``push_batch`` → ``mark_pushed``, what the
worker and the bench do), so each guarantee is seen on its own: every kind of local change
arrives with equal contents; a batch sent twice adds nothing; a change made while a batch is
on its way stays pending; a batch the central database refuses half-way leaves it unchanged
and the local checkpoints where they were.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from race_control.app import RaceControl
from race_control.store.database import Store
from race_control.sync.connection import CentralRejected, CentralUnreachable, connect
from race_control.sync.outbox import Batch, backlog, mark_pushed, read_batch
from race_control.sync.push import push_batch
from tests.conftest import Api, make_settings
from tests.helpers.live_app import running
from tests.sync.mirror import Central, assert_mirrored, central_partner, central_rows, local_rows
from tests.sync.race_day import race_day


@pytest.fixture
def central() -> Iterator[Central]:
    with central_partner() as c:
        yield c


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[tuple[RaceControl, Api]]:
    async with running(make_settings(tmp_path / "rc")) as (rc, api):  # no central URL: no worker
        yield rc, api


def store_of(rc: RaceControl) -> Store:
    assert rc.services is not None
    return rc.services.store


async def push_all(store: Store, pg: Any, *, max_entities: int = 7, max_append: int = 5) -> int:
    """Rounds until the outbox is empty (small batches: many of them); the number of batches."""
    batches = 0
    while True:
        batch: Batch = await store.run(read_batch, max_entities, max_append)
        if batch.empty:
            return batches
        push_batch(pg, batch)
        await store.run(mark_pushed, batch)
        batches += 1


def cursors(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return dict(conn.exec_driver_sql("SELECT tbl, last_rowid FROM sync_cursors").all())


def pending(store: Store) -> set[tuple[str, str]]:
    with store.engine.connect() as conn:
        return set(conn.exec_driver_sql("SELECT tbl, key FROM sync_rows WHERE pending = 1").all())


async def test_every_kind_of_local_change_arrives_with_equal_contents(
    local: tuple[RaceControl, Api], central: Central
) -> None:
    rc, api = local
    ids = await race_day(rc, api)
    store = store_of(rc)
    pg = connect(central.url)
    try:
        assert await push_all(store, pg) > 5
    finally:
        pg.close()
    counts = assert_mirrored(store.engine, central)
    assert all(counts.values()), {
        t: n for t, n in counts.items() if not n
    }  # the race day touched every synced table
    assert (await store.run(backlog)).rows == 0

    # a link removed before it was ever central needs no tombstone; one that was central gets
    # one, and binding the stream again brings it back (a link is no edited entity)
    link = f"/api/sessions/{ids['session']}/timing"
    links = "SELECT stream_id, deleted FROM session_streams WHERE session_id = %s"
    assert dict(central.query(links, ids["session"])) == {ids["stream"]: False}
    pg = connect(central.url)
    try:
        for step, expected in (("bind", False), ("unbind", True), ("bind", False)):
            if step == "bind":
                await api.ok("POST", link, {"timing_session_id": ids["other_stream"]})
            else:
                await api.ok("DELETE", f"{link}/{ids['other_stream']}")
            await push_all(store, pg)
            assert dict(central.query(links, ids["session"])) == {
                ids["stream"]: False,
                ids["other_stream"]: expected,
            }, step
    finally:
        pg.close()
    assert_mirrored(store.engine, central, ("session_streams",))
    # public comes from the session's settings; only the public one is
    public = dict(central.query("SELECT id, public FROM display_sessions"))
    assert public == {ids["session"]: True, ids["closed_session"]: False}
    # every version of a template that was pushed is kept (two saves between pushes: the last)
    versions = "SELECT version, name FROM template_versions WHERE template_id = %s ORDER BY version"
    assert central.query(versions, ids["template"]) == [(2, "Sync board v2")]
    template = await api.ok("GET", f"/api/templates/{ids['template']}")
    await api.ok("PUT", f"/api/templates/{ids['template']}", {**template, "name": "Sync board v3"})
    pg = connect(central.url)
    try:
        await push_all(store, pg)
    finally:
        pg.close()
    assert central.query(versions, ids["template"]) == [(2, "Sync board v2"), (3, "Sync board v3")]
    # the device is known, with its last push
    (device,) = central.query("SELECT id, last_push_at FROM devices")
    with store.engine.connect() as conn:
        assert device[0] == conn.exec_driver_sql("SELECT device FROM sync_clock").scalar_one()
    assert device[1] is not None
    # every row is the partner's own
    for table in ("events", "timing_reads", "display_events"):
        assert central.query(f"SELECT DISTINCT partner_id::text FROM {table}") == [(central.partner_id,)]


async def test_a_batch_sent_twice_adds_nothing(local: tuple[RaceControl, Api], central: Central) -> None:
    rc, api = local
    await race_day(rc, api, reads=6)
    store = store_of(rc)
    pg = connect(central.url)
    try:
        batch = await store.run(read_batch)
        push_batch(pg, batch)  # committed centrally, but the laptop never heard (no mark_pushed)
        again = await store.run(read_batch)
        assert again == batch  # the same rows are sent again...
        push_batch(pg, again)
        await store.run(mark_pushed, again)
        assert (await store.run(backlog)).rows == 0
        assert await push_all(store, pg) == 0
    finally:
        pg.close()
    assert_mirrored(store.engine, central)  # ...and nothing is there twice
    assert central.count("timing_reads") == len(local_rows(store.engine, "timing_reads"))
    assert central.count("template_versions") == 1


async def test_a_change_made_while_its_batch_is_on_the_way_stays_pending(
    local: tuple[RaceControl, Api], central: Central
) -> None:
    rc, api = local
    event = await api.ok("POST", "/api/events", {"name": "Edits", "date": "2026-06-01"}, 201)
    await api.ok("POST", f"/api/events/{event['id']}/participants", [{"bib": "7", "first_name": "Bo"}])
    store = store_of(rc)
    pg = connect(central.url)
    try:
        batch = await store.run(read_batch)
        (runner,) = [e for e in batch.entities if e.table == "participants"]
        assert runner.row is not None and runner.row["first_name"] == "Bo"
        # the timer edits the runner while the batch is on its way
        await api.ok("PATCH", f"/api/events/{event['id']}/participants/7", {"first_name": "Bob"})
        push_batch(pg, batch)
        await store.run(mark_pushed, batch)
        assert ("participants", runner.key) in pending(store)  # the edit is not lost
        (there,) = central_rows(central, "participants")
        assert there["first_name"] == "Bo"
        await push_all(store, pg)
    finally:
        pg.close()
    (there,) = central_rows(central, "participants")
    assert there["first_name"] == "Bob"
    assert pending(store) == set()


async def test_rules_changed_re_derive_suppressions_and_they_are_sent_again(
    local: tuple[RaceControl, Api], central: Central
) -> None:
    """Suppressions are deleted and written again when a session's rules change: SQLite may hand
    the new rows the rowids of deleted ones, below the cursor; the delete lowers the cursor."""
    rc, api = local
    ids = await race_day(rc, api, reads=4)
    store = store_of(rc)
    pg = connect(central.url)
    try:
        await push_all(store, pg)
        before = local_rows(store.engine, "suppressions")
        assert before
        await api.ok("PATCH", f"/api/sessions/{ids['session']}", {"rules": {"duplicate_window": 30}})
        await api.ok("PATCH", f"/api/sessions/{ids['session']}", {"rules": {"duplicate_window": 600}})
        assert (await store.run(backlog)).rows > 0
        await push_all(store, pg)
        assert_mirrored(store.engine, central, ("suppressions",))

        # re-derived while a batch with the old ones is on its way: SQLite hands the new rows
        # the rowids of the batch's rows, so checking that batch off must not move the cursor
        await api.ok("PATCH", f"/api/sessions/{ids['session']}", {"rules": {"duplicate_window": 40}})
        batch = await store.run(read_batch)
        await api.ok("PATCH", f"/api/sessions/{ids['session']}", {"rules": {"duplicate_window": 50}})
        push_batch(pg, batch)
        await store.run(mark_pushed, batch)
        await push_all(store, pg)
    finally:
        pg.close()
    assert_mirrored(store.engine, central, ("suppressions",))
    (row,) = central_rows(central, "suppressions")
    assert "window 50 s" in row["reason"]


def install_failing_trigger(central: Central, table: str, nth: int) -> None:
    """As the owner: a trigger that refuses the ``nth`` row inserted into ``table`` from now on."""
    central.query(
        f"""
        CREATE SEQUENCE rc_test_rows;
        CREATE FUNCTION rc_test_refuse() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
        BEGIN
          IF nextval('rc_test_rows') = {nth} THEN RAISE EXCEPTION 'refused row {nth}'; END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER rc_test_refuse BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION rc_test_refuse();
        """
    )


def central_snapshot(central: Central) -> dict[str, list[tuple[Any, ...]]]:
    tables = ("events", "participants", "timing_streams", "display_sessions", "session_streams", "templates")
    tables += ("raw_lines", "timing_reads", "read_conflicts", "display_events", "suppressions", "devices")
    return {t: sorted(map(repr, central.query(f"SELECT * FROM {t}"))) for t in tables}  # type: ignore[misc]


async def test_a_batch_refused_half_way_leaves_central_and_the_checkpoints_as_they_were(
    local: tuple[RaceControl, Api], central: Central
) -> None:
    rc, api = local
    store = store_of(rc)
    await api.ok("POST", "/api/events", {"name": "First", "date": "2026-06-01"}, 201)
    pg = connect(central.url)
    try:
        await push_all(store, pg)
        await race_day(rc, api, reads=10)
        install_failing_trigger(central, "timing_reads", 7)
        before, marks, waiting = central_snapshot(central), cursors(store), pending(store)
        batch = await store.run(read_batch)
        with pytest.raises(CentralRejected, match="refused row 7"):
            push_batch(pg, batch)
        assert central_snapshot(central) == before  # the entities of that batch did not land either
        assert cursors(store) == marks and pending(store) == waiting
        assert await store.run(read_batch) == batch  # the same batch is next
        central.query("DROP TRIGGER rc_test_refuse ON timing_reads")
        await push_all(store, pg)  # the same connection goes on after the rollback
    finally:
        pg.close()
    assert_mirrored(store.engine, central)


async def test_a_login_of_no_partner_is_refused_clearly(
    local: tuple[RaceControl, Api], central: Central
) -> None:
    rc, api = local
    await api.ok("POST", "/api/events", {"name": "First", "date": "2026-06-01"}, 201)
    store = store_of(rc)
    pg = psycopg2.connect(central.owner_url)  # the owner: a login, but no partner's
    try:
        batch = await store.run(read_batch)
        with pytest.raises(CentralRejected, match="no timing partner"):
            push_batch(pg, batch)
    finally:
        pg.close()
    assert central.count("events") == 0


async def test_an_older_change_never_overwrites_a_newer_one_and_a_tombstone_wins(
    local: tuple[RaceControl, Api], central: Central
) -> None:
    rc, api = local
    event = await api.ok("POST", "/api/events", {"name": "Clocks", "date": "2026-06-01"}, 201)
    await api.ok("POST", f"/api/events/{event['id']}/participants", [{"bib": "7", "first_name": "Bo"}])
    store = store_of(rc)
    pg = connect(central.url)
    try:
        old = await store.run(read_batch)
        push_batch(pg, old)
        await store.run(mark_pushed, old)
        await api.ok("PATCH", f"/api/events/{event['id']}/participants/7", {"first_name": "Bob"})
        await push_all(store, pg)
        push_batch(pg, old)  # a stale batch arrives late (its answer was lost, sent again later)
        (there,) = central_rows(central, "participants")
        assert there["first_name"] == "Bob"

        # another laptop deleted the runner (a newer tombstone): a later edit here does not revive it
        central.query("UPDATE participants SET deleted = true, hlc = hlc + 1")
        await api.ok("PATCH", f"/api/events/{event['id']}/participants/7", {"first_name": "Robert"})
        await push_all(store, pg)
    finally:
        pg.close()
    assert central_rows(central, "participants") == []
    (name, deleted) = central.query("SELECT first_name, deleted FROM participants")[0]
    assert (name, deleted) == ("Bob", True)


async def test_a_connection_dropped_mid_batch_is_offline_and_nothing_lands(
    local: tuple[RaceControl, Api], central: Central
) -> None:
    """The server ends the connection while the batch's rows are being written (a trigger
    terminates its own backend at the 5th read): a retryable failure, nothing of the batch
    central, the checkpoints unmoved; a new connection sends it whole."""
    rc, api = local
    store = store_of(rc)
    await race_day(rc, api, reads=8)
    central.query(
        """
        CREATE SEQUENCE rc_test_cut;
        CREATE FUNCTION rc_test_cut() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
        BEGIN
          IF nextval('rc_test_cut') = 5 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER rc_test_cut BEFORE INSERT ON timing_reads FOR EACH ROW EXECUTE FUNCTION rc_test_cut();
        """
    )
    before, marks, waiting = central_snapshot(central), cursors(store), pending(store)
    batch = await store.run(read_batch)
    pg = connect(central.url)
    try:
        with pytest.raises(CentralUnreachable):
            push_batch(pg, batch)
    finally:
        pg.close()
    assert central_snapshot(central) == before
    assert cursors(store) == marks and pending(store) == waiting
    pg = connect(central.url)  # the sequence is past 5 now: the trigger lets everything through
    try:
        await push_all(store, pg)
    finally:
        pg.close()
    assert_mirrored(store.engine, central)
