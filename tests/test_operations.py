"""Named operations the desktop app and API share: templates, unbind, analytics, accounts, chunked import."""

from __future__ import annotations

import copy
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from race_control.accounts import check_verifier, make_verifier
from race_control.app import RaceControl
from race_control.progress import Cancelled, Progress
from tests.conftest import Api
from tests.display.test_resume import lines, setup_session
from tests.helpers.live_app import drain_until, wait_last_seq


async def test_custom_templates_are_validated_versioned_and_pushed(rc: RaceControl, api: Api) -> None:
    base = await api.ok("GET", "/api/templates/results-classic")
    mine = copy.deepcopy(base)
    mine.update(name="Sponsor blue")
    mine["theme"]["accent"] = "#1e90ff"
    saved = await api.ok("POST", "/api/templates", mine, 201)
    assert saved["version"] == 1 and saved["id"] != "results-classic"
    listed = {t["id"]: t for t in await api.ok("GET", "/api/templates")}
    assert listed[saved["id"]]["builtin"] is False and listed["results-classic"]["builtin"] is True
    hostile = [
        ({**mine, "theme": {"accent": "red;background:url(javascript:alert(1))"}}, "colour"),
        ({**mine, "blocks": [{"type": "script", "x": 0, "y": 0, "w": 1, "h": 1}]}, "'type'"),
        ({**mine, "blocks": [{"type": "image", "src": "javascript:alert(1)"}]}, "src"),
        ({**mine, "blocks": [{"type": "image", "src": "//evil.example/x.png"}]}, "src"),
        ({**mine, "blocks": [{"type": "text", "x": "left"}]}, "'x'"),
        ({**mine, "mode": "party"}, "'mode'"),
        ({**mine, "mode": {}}, "'mode'"),  # found by schemathesis: was a 500 (unhashable dict)
        ({**mine, "blocks": [{"type": {}}]}, "'type'"),
        ({**mine, "blocks": [{"type": "slides", "items": [{"image": "javascript:alert(1)"}]}]}, "image"),
        ({**mine, "blocks": [{"type": "slides", "items": [{"title": 5}]}]}, "'title'"),
    ]
    for body, needle in hostile:
        got, data = await api.call("POST", "/api/templates", body)
        assert got == 400 and needle in data["error"], (needle, data)
    got, data = await api.call("PUT", "/api/templates/results-classic", mine)
    assert got == 400 and "built-in" in data["error"]

    session, client = await setup_session(api, rc.timing_port)
    await api.ok("PATCH", f"/api/sessions/{session['id']}", {"template_id": saved["id"]})
    async with api.http.ws_connect(session["display_url"].replace("http", "ws") + "/ws") as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["template"]["theme"]["accent"] == "#1e90ff"
        mine["theme"]["accent"] = "#ff4500"
        updated = await api.ok("PUT", f"/api/templates/{saved['id']}", mine)
        assert updated["version"] == 2
        while (msg := await ws.receive_json(timeout=5))["type"] != "template":
            pass
        assert msg["template"]["theme"]["accent"] == "#ff4500"
    got, data = await api.call("PATCH", f"/api/sessions/{session['id']}", {"template_id": "nope"})
    assert got == 400 and "template" in data["error"]
    await client.close()


async def test_unbind_and_analytics(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    sid = session["id"]
    await client.send(
        lines(1, 5)
        + b"CT01_33~6~finish~5~09:00:06.00~0~0FA22E~1\r\nCT01_33~7~finish~4242~09:01:30.00~0~0FA22E~1\r\n"
    )
    await wait_last_seq(rc, api, sid, 6)
    report = await api.ok("GET", f"/api/sessions/{sid}/analytics")
    assert report["reads"] == 7 and report["finishers"] == 6
    assert report["unknown_bibs"] == ["4242"] and report["duplicates_suppressed"] == 1
    assert report["reads_per_minute"] == [["09:00", 6], ["09:01", 1]]
    async with api.http.get(api.base + f"/api/sessions/{sid}/analytics?format=csv", headers=api.headers) as r:
        text = await r.text()
        assert r.status == 200 and r.content_type == "text/csv" and "09:00,6,5" in text
    stream_id = session_stream = (await api.ok("GET", f"/api/sessions/{sid}"))["timing_session_ids"][0]
    unbound = await api.ok("DELETE", f"/api/sessions/{sid}/timing/{stream_id}")
    assert unbound["timing_session_ids"] == []
    got, _ = await api.call("DELETE", f"/api/sessions/{sid}/timing/{session_stream}")
    assert got == 404
    await client.send(lines(8, 8))
    # the read has crossed TCP and is stored (8 reads on the stream) before we look
    stored = await drain_until(rc, lambda: stored_reads(rc, stream_id), lambda n: n == 8)
    assert stored == 8
    assert (await api.ok("GET", f"/api/sessions/{sid}"))["last_seq"] == 6  # no longer fed
    await client.close()


async def stored_reads(rc: RaceControl, stream_id: str) -> int:
    """Reads of ``stream_id`` committed to the store."""
    assert rc.services is not None

    def count(conn: Any) -> int:
        return int(
            conn.exec_driver_sql("select count(*) from reads where stream_id = ?", (stream_id,)).scalar()
        )

    return await rc.services.store.run(count)


@contextmanager
def captured_logs() -> Iterator[list[logging.LogRecord]]:
    """Every record of our loggers at any level (on our root logger itself: a test before this
    one may have configured logging, which stops it propagating to pytest's handler)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    root = logging.getLogger("race_control")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def files_holding(data_dir: Path, database: Path, secret: bytes) -> list[str]:
    """Files under ``data_dir`` (the database with its -wal and -shm, logs, tokens) that hold
    ``secret``; read as they are, and again after a checkpoint moved the WAL into the database."""
    found = {str(f) for f in data_dir.rglob("*") if f.is_file() and secret in f.read_bytes()}
    db = sqlite3.connect(database)  # a connection of its own, beside the app's
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        db.close()
    found |= {str(f) for f in data_dir.rglob("*") if f.is_file() and secret in f.read_bytes()}
    return sorted(found)


async def test_accounts_store_only_a_verifier(rc: RaceControl) -> None:
    assert rc.services is not None
    accounts = rc.services.accounts
    with captured_logs() as records:
        await account_calls(accounts)
    assert not [r for r in records if "correct horse" in r.getMessage()]
    db = rc.settings.database_path
    # WAL mode: new rows may be in -wal only, which is why every file is read
    assert {f.name for f in db.parent.iterdir()} >= {db.name, db.name + "-wal", db.name + "-shm"}
    assert files_holding(rc.settings.data_dir, db, b"correct horse") == []
    assert files_holding(rc.settings.data_dir, db, b"timer@finish")  # the account is there to be found
    v = make_verifier("pw12345678", n=2**10)
    assert v.startswith("scrypt$1024$") and check_verifier("pw12345678", v) and not check_verifier("x", v)
    assert not check_verifier("pw", "garbage")


async def account_calls(accounts: Any) -> None:
    assert not await accounts.has_users()
    await accounts.create("timer@finish", "correct horse")
    assert await accounts.has_users()
    assert await accounts.verify("TIMER@finish", "correct horse")
    assert not await accounts.verify("timer@finish", "wrong horse")
    assert not await accounts.verify("nobody", "correct horse")
    with pytest.raises(Exception, match="already exists"):
        await accounts.create("Timer@Finish", "another password")
    with pytest.raises(Exception, match="at least 8"):
        await accounts.create("short", "1234")


async def test_chunked_import_reports_progress_and_cancels_cleanly(rc: RaceControl, api: Api) -> None:
    assert rc.services is not None
    events = rc.services.events
    event = await events.create_event({"name": "Big", "date": "2026-06-01"})
    rows: list[object] = [{"bib": str(i), "first_name": "R", "last_name": str(i)} for i in range(1, 5001)]
    rows[10] = {"bib": "11"}  # no name: rejected with its row number (the 11th row: rows count from 1)
    seen: list[int] = []
    progress = Progress(listeners=[lambda p: seen.append(p.done)])
    imported, rejected = await events.import_in_chunks(event.id, rows, progress, chunk=1000)
    assert imported == 4999 and [r.index for r in rejected] == [11] and "row 11" in rejected[0].error
    assert seen[-1] == 5000 and len(seen) == 6
    other = await events.create_event({"name": "Cancelled", "date": "2026-06-01"})
    progress = Progress()
    progress.listeners.append(lambda p: p.cancel() if p.done >= 2000 else None)
    with pytest.raises(Cancelled, match="after 2000 of 5000"):
        await events.import_in_chunks(other.id, rows, progress, chunk=1000)
    assert len(events.roster(other.id)) == 1999  # two whole chunks, nothing half-applied


def test_built_in_templates_pass_the_same_validation_as_custom_ones() -> None:
    from race_control.templates.service import builtin, builtin_ids, validate_template

    assert set(builtin_ids()) >= {"results-classic", "pre-race-classic"}
    for tid in builtin_ids():
        template = builtin(tid)
        assert template is not None and validate_template(template)["mode"] in ("results", "pre-race")
