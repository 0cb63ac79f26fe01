"""Entity rows go by ``COPY`` (CSV) into a temporary table and one ``INSERT … SELECT … ON
CONFLICT DO UPDATE`` (``sync/push.py``): awkward values arrive exactly (``NULL`` apart from
``''`` in a nullable text column, quotes, commas, newlines, a leading ``=``, ``\\N``, unicode,
JSON with all of those, floats to the last bit), a stale copy of a row never overwrites the
newer one, and the same rows sent again change nothing.  On a real store file and a real
PostgreSQL (row-level security on, the partner's login)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from race_control.store.database import Store
from race_control.sync.connection import connect
from race_control.sync.outbox import backlog, mark_pushed, read_batch
from race_control.sync.push import encode_batch, push_batch
from tests.sync.mirror import Central, assert_mirrored, central_partner, central_rows

AWKWARD = ["", "=", "=x", "\\N", "a,b", 'say "hi"', "two\nlines", "crlf\r\n", "Zoë 東京 🏁", " "]


@pytest.fixture
def central() -> Iterator[Central]:
    with central_partner() as c:
        yield c


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "race-control.sqlite3")
    s.migrate()
    try:
        yield s
    finally:
        s.close()


def fill(store: Store) -> None:
    """An event, a participant per awkward string (in every text column, ``age`` NULL or not,
    ``raw`` holding it too) and display sessions whose nullable ``template_id`` is NULL, ''
    or text."""
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (id, name, date, timezone, created_at, updated_at) "
                "VALUES ('e1', 'Race, \"the\" one', '2026-06-01', 'UTC', 0.1, 1e-300)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO templates (id, name, mode, version, body, created_at, updated_at) "
                "VALUES ('t1', 'T', 'finish', 3, '{}', 1.0, 2.0)"
            )
        )
        for i, s in enumerate(AWKWARD):
            conn.execute(
                text(
                    "INSERT INTO participants (id, event_id, bib, first_name, last_name, age, gender, city, state, "
                    "country, division, team, wave, message, alias, hidden, source, raw, local_fields, created_at, "
                    "updated_at) VALUES (:id, 'e1', :bib, :s, :s, :age, '', :s, '', '', '', :s, '', :s, '', :hidden, "
                    "'csv', :raw, :lf, :t, 1.0)"
                ),
                {
                    "id": f"p{i}",
                    "bib": str(i),
                    "s": s,
                    "age": None if i % 2 else i,
                    "hidden": i % 3 == 0,
                    "raw": json.dumps({"v": s, "n": None, "f": 0.1 + i, "deep": [s, {"k": s}]}),
                    "lf": json.dumps({} if i % 2 else {"message": s}),
                    "t": 1_700_000_000.123456789 + i / 3,
                },
            )
        for i, template in enumerate([None, "", "t1"]):
            conn.execute(
                text(
                    "INSERT INTO display_sessions (id, token, event_id, name, mode, template_id, locations, rules, "
                    "status, settings, created_at, updated_at) VALUES (:id, :tok, 'e1', :name, 'results', :tpl, "
                    "'[\"finish\"]', '{}', 'open', :settings, 1.0, 1.0)"
                ),
                {
                    "id": f"s{i}",
                    "tok": f"tok{i}",
                    "name": AWKWARD[i + 4],
                    "tpl": template,
                    "settings": json.dumps({"public": True} if i == 2 else {"public": "yes"}),
                },
            )


async def push_everything(store: Store, central: Central) -> None:
    pg = connect(central.url)
    try:
        while True:
            batch = await store.run(read_batch)
            if batch.empty:
                break
            push_batch(pg, batch)
            await store.run(mark_pushed, batch)
    finally:
        pg.close()


async def test_awkward_entity_values_arrive_exactly(store: Store, central: Central) -> None:
    fill(store)
    await push_everything(store, central)
    counts = assert_mirrored(store.engine, central)
    assert counts["participants"] == len(AWKWARD) and counts["display_sessions"] == 3
    tpl = dict(central.query("SELECT id, template_id FROM display_sessions"))
    assert tpl == {"s0": None, "s1": "", "s2": "t1"}  # NULL stays NULL, '' stays ''
    ages = dict(central.query("SELECT id, age FROM participants"))
    assert ages["p1"] is None and ages["p2"] == 2
    public = dict(central.query("SELECT id, public FROM display_sessions"))
    assert public == {"s0": False, "s1": False, "s2": True}  # only settings.public exactly true


async def test_a_stale_entity_batch_never_overwrites_and_a_resend_changes_nothing(
    store: Store, central: Central
) -> None:
    fill(store)
    old = await store.run(read_batch)
    pg = connect(central.url)
    try:
        push_batch(pg, old)
        await store.run(mark_pushed, old)
        with store.engine.begin() as conn:  # edited here after the push: a newer clock
            conn.execute(text("UPDATE participants SET first_name = 'Newer' WHERE id = 'p3'"))
        newer = await store.run(read_batch)
        assert [(e.table, e.key) for e in newer.entities] == [("participants", "p3")]
        push_batch(pg, newer)
        await store.run(mark_pushed, newer)
        tx_before = central.query("SELECT id, tx FROM participants ORDER BY id")
        push_batch(pg, encode_batch(old))  # the old batch again (its answer was lost): older clocks
        push_batch(pg, newer)  # and the newer one again: the same clocks
    finally:
        pg.close()
    assert (await store.run(backlog)).rows == 0
    assert_mirrored(store.engine, central)
    (p3,) = [r for r in central_rows(central, "participants") if r["id"] == "p3"]
    assert p3["first_name"] == "Newer"
    # nothing was rewritten: no row's writing transaction moved
    assert central.query("SELECT id, tx FROM participants ORDER BY id") == tx_before
    assert central.count("participants") == len(AWKWARD)
