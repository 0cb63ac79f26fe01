"""A timing stream survives a restart whole, and its actions change memory only after a commit.

The mapping test enumerates StreamState's fields: a new field must say how it survives a
restart (stored, rebuilt from the reads, or runtime only).  The restart test compares
``to_json()`` of every stream before and after: the demo's replayed (not live) stream, a live
stream with clock warnings and a bad line, and an imported controller file.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, inspect, text

from race_control.app import RaceControl
from race_control.demo import DEMO_CONNECTION_ID, run_demo
from race_control.store.database import Store, alembic_config
from race_control.store.models import TimingStream
from race_control.timing.ingest import streams as streams_module
from race_control.timing.ingest.streams import StreamState
from tests.conftest import DATA, make_settings
from tests.display.test_resume import lines
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.failing_store import FAILURES, MESSAGE, allow, refuse
from tests.helpers.live_app import running
from tests.helpers.waiting import until

# listed here, not only in the module: moving a field to "not stored" is a decision this test sees
REBUILT_FROM_READS = {"reads", "last_read_at", "next_n", "trackers", "conflicts"}  # + read_conflicts
THIS_PROCESS_ONLY = {"connections", "peers", "_midnight", "_warned_at"}


def test_every_stream_field_is_stored_rebuilt_or_runtime_only() -> None:
    fields = {f.name for f in dataclasses.fields(StreamState)}
    stored = set(streams_module.STORED)
    assert len(stored) == len(streams_module.STORED)
    assert set(streams_module.DERIVED) == REBUILT_FROM_READS
    assert set(streams_module.RUNTIME) == THIS_PROCESS_ONLY
    unaccounted = fields - {"id"} - stored - REBUILT_FROM_READS - THIS_PROCESS_ONLY
    assert unaccounted == set(), f"say how these survive a restart: {sorted(unaccounted)}"
    assert stored.isdisjoint(REBUILT_FROM_READS | THIS_PROCESS_ONLY)
    columns = {c.name for c in TimingStream.__table__.columns}
    assert columns - stored == {"id", "updated_at"}  # every stored field is a column, and back


def test_migration_0006_upgrades_backfills_and_downgrades(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3")
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0005")
            for sid, protocol in (("a", "ctp01"), ("b", "controller-file")):
                conn.execute(
                    text(
                        "insert into timing_streams (id, protocol, source_key, client, event_name, "
                        "source_event_id, remote_addr, locations, reference_date, timezone, created_at, "
                        "updated_at) values (:id, :p, :id, '', '', '', '', '[]', '', 'UTC', 0, 0)"
                    ),
                    {"id": sid, "p": protocol},
                )
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0006")
        with store.engine.connect() as conn:
            rows = conn.execute(
                text("select id, live, bad_lines, clock_warnings, last_clock_warning from timing_streams")
            ).all()
        assert sorted(tuple(r) for r in rows) == [("a", 1, 0, 0, ""), ("b", 0, 0, 0, "")]
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0005")
        columns = {c["name"] for c in inspect(store.engine).get_columns("timing_streams")}
        assert "live" not in columns and "clock_warnings" not in columns
        assert "local_fields" not in {c["name"] for c in inspect(store.engine).get_columns("participants")}
        store.migrate()  # and up again to head
        assert "local_fields" in {c["name"] for c in inspect(store.engine).get_columns("participants")}
    finally:
        store.close()


async def live_stream(rc: RaceControl, conn_id: str) -> tuple[RawCtp01Client, StreamState]:
    assert rc.services is not None
    timing = rc.services.timing
    client = await RawCtp01Client.connect(rc.timing_port)
    await client.handshake(conn_id)
    state = await until(
        lambda: next((s for s in timing.streams() if s.source_key == conn_id), None), what=conn_id
    )
    return client, state


async def test_a_failed_clock_change_or_import_leaves_the_streams_as_they_were(rc: RaceControl) -> None:
    assert rc.services is not None
    store, ops, timing = rc.services.store, rc.services.ops, rc.services.timing
    client, state = await live_stream(rc, "clock-conn")
    told: list[StreamState] = []
    timing.listeners.append(told.append)
    before, midnight = state.to_json(), state.wall_time(0)
    trigger = await refuse(store, "timing_streams", op="UPDATE")
    with pytest.raises(FAILURES, match=MESSAGE):
        await ops.timing.set_clock(state.id, {"timezone": "Europe/Berlin", "reference_date": "2021-05-08"})
    assert state.to_json() == before and state.wall_time(0) == midnight and told == []
    await allow(store, trigger)
    await ops.timing.set_clock(state.id, {"timezone": "Europe/Berlin", "reference_date": "2021-05-08"})
    assert (state.timezone, state.reference_date) == ("Europe/Berlin", "2021-05-08") and told == [state]
    await client.close()
    await until(lambda: not state.connections, what="the controller gone")

    listed = [s.to_json() for s in timing.streams()]
    folder = {"path": str(DATA / "chronotrack-2021" / "19K"), "timezone": "UTC"}
    trigger = await refuse(store, "timing_streams")
    with pytest.raises(FAILURES, match=MESSAGE):
        await ops.timing.import_files(folder)
    assert [s.to_json() for s in timing.streams()] == listed
    assert rc.services.pipeline.backlog == 0  # no read was handed on
    await allow(store, trigger)
    first = (await ops.timing.import_files(folder)).summary
    await rc.services.pipeline.drain()
    imported = timing.stream(first["timing_session_id"])
    assert imported is not None and imported.live is False and imported.locations == ["19K"]

    before = imported.to_json()
    trigger = await refuse(store, "timing_streams", op="UPDATE")
    with pytest.raises(FAILURES, match=MESSAGE):
        await ops.timing.import_files(folder)
    assert imported.to_json() == before
    await allow(store, trigger)


def stored_clock_of_a_replay(conn: Connection, stream_id: str) -> bool:
    row = conn.execute(
        text("select live, reference_date from timing_streams where id = :id"), {"id": stream_id}
    ).one()
    return tuple(row) == (0, "2021-05-08")


async def test_every_stream_comes_back_from_a_restart_as_it_was(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    async with running(settings) as (rc, _api):
        assert rc.services is not None
        s = rc.services
        # the demo: a replay of 2021 played into our own timing port (its stream is not live)
        stop = asyncio.Event()
        demo = asyncio.create_task(run_demo(rc, argparse.Namespace(speed=200.0, duration=0), stop))
        replay = await until(
            lambda: next((x for x in s.timing.streams() if x.source_key == DEMO_CONNECTION_ID), None),
            what="the demo's stream",
        )
        await until(lambda: replay.reads >= 200, what="the demo's reads")
        for _ in range(1500):  # the demo saves the replay's clock in the background
            if await s.store.run(stored_clock_of_a_replay, replay.id):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the demo's replay clock was never stored")
        stop.set()
        await demo

        # a live stream whose controller clock is years off, a gun after its last read, a garbled line
        client, warned = await live_stream(rc, "warn-conn")
        await s.ops.timing.set_clock(warned.id, {"reference_date": "2020-01-01"})
        await client.send(lines(1, 4))
        await until(lambda: warned.reads == 4, what="the reads")
        await client.send(b"CT01_33~5~finish~guntime~09:00:10.00~0~0FA22E~0\r\nCT01_33~x~finish\r\n")
        await until(lambda: warned.cursors() == {"finish": 5} and warned.bad_lines == 1, what="gun, bad line")
        await client.close()
        await s.ops.timing.import_files({"path": str(DATA / "chronotrack-2021" / "9K"), "timezone": "UTC"})

        await until(lambda: not any(x.connections for x in s.timing.streams()), what="all disconnected")
        await s.pipeline.drain()
        await s.timing.flush()
        before = {x.id: x.to_json() for x in s.timing.streams()}
    assert len(before) == 3
    assert before[replay.id]["live"] is False and before[replay.id]["clock_warnings"] == 0
    assert before[warned.id]["live"] is True and before[warned.id]["clock_warnings"] == 4
    assert "behind this computer's clock" in before[warned.id]["last_clock_warning"]
    assert before[warned.id]["bad_lines"] == 1

    async with running(settings) as (rc, _api):
        assert rc.services is not None
        after = {x.id: x.to_json() for x in rc.services.timing.streams()}
        assert after == before
        assert rc.services.timing.stream(replay.id).live is False  # type: ignore[union-attr]
