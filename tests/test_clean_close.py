"""After a clean stop the next start-up does not read every page of the database again
(``store/clean_close.py``); after a crash, or once the file changed, it does — and a page damaged
after a clean stop is still found before anything is written.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from race_control.app import RaceControl
from race_control.store.clean_close import closed_cleanly, mark_closed
from race_control.store.database import DatabaseUnusable
from tests.conftest import make_settings
from tests.helpers.live_app import running
from tests.test_startup_checks import DB_NAME, digest

SKIPPED = "was closed cleanly and is unchanged"


async def stopped_cleanly(data: Path) -> Path:
    async with running(make_settings(data)) as (_rc, api):
        await api.ok("POST", "/api/events", {"name": "Clean 5K", "date": "2026-06-01"}, 201)
    db = data / DB_NAME
    assert db.with_name(DB_NAME + ".closed").exists()
    return db


async def test_a_clean_stop_spares_the_next_start_the_full_check(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    db = await stopped_cleanly(data)
    mark = db.with_name(DB_NAME + ".closed")
    caplog.set_level(logging.INFO, logger="race_control.store")
    async with running(make_settings(data)):
        assert SKIPPED in caplog.text
        assert not mark.exists()  # consumed: were this run killed, the next start checks every page
    assert mark.exists()
    mark.unlink()  # what a kill -9 leaves: no record of a clean close
    caplog.clear()
    async with running(make_settings(data)):
        assert SKIPPED not in caplog.text


async def test_a_page_damaged_after_a_clean_stop_is_still_found(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = await stopped_cleanly(data)
    with db.open("r+b") as f:  # someone's tool writes into the file: its mtime moves
        f.seek(db.stat().st_size - 4096 + 3)
        f.write(b"\xff\xff")
    before = digest(db)
    rc = RaceControl(make_settings(data))
    with pytest.raises(DatabaseUnusable, match="damaged"):
        await rc.start()
    assert digest(db) == before


def test_the_record_holds_only_for_the_very_file_closed(tmp_path: Path) -> None:
    db = tmp_path / DB_NAME
    db.write_bytes(b"x" * 4096)
    mark_closed(db)
    assert closed_cleanly(db) and not closed_cleanly(db)  # once: consumed
    for change in (
        lambda: os.utime(db, ns=(1, 1)),  # touched
        lambda: db.write_bytes(b"x" * 8192),  # grown
        lambda: (db.unlink(), db.write_bytes(b"x" * 4096)),  # replaced (a restore)
        lambda: db.with_name(DB_NAME + "-wal").write_bytes(b"w"),  # a WAL left behind
    ):
        mark_closed(db)
        change()
        assert not closed_cleanly(db)
        db.with_name(DB_NAME + "-wal").unlink(missing_ok=True)
    db.with_name(DB_NAME + "-wal").write_bytes(b"w")
    mark_closed(db)  # not recorded while a WAL is still to fold in
    db.with_name(DB_NAME + "-wal").unlink()
    assert not closed_cleanly(db)
