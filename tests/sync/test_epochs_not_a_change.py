"""A start-up writes each session's epoch history; that must not count as an edit of the session.

Otherwise a restarted laptop's session takes a fresh hybrid-clock value and its (possibly stale)
copy beats an edit another laptop made before the restart (store migration 0011).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text

from race_control.app import RaceControl
from tests.conftest import Api, make_settings


def session_row(app: RaceControl, session_id: str) -> dict[str, Any]:
    assert app.services is not None
    with app.services.store.engine.connect() as conn:
        row = conn.execute(
            text("SELECT hlc, origin, pending FROM sync_rows WHERE tbl = 'display_sessions' AND key = :k"),
            {"k": session_id},
        ).one()
        epochs = conn.execute(
            text("SELECT json_extract(settings, '$.epochs') FROM display_sessions WHERE id = :k"),
            {"k": session_id},
        ).scalar_one()
        conn.execute(text("UPDATE sync_rows SET pending = 0"))  # as if pushed
        conn.commit()
    return {**row._mapping, "epochs": epochs}


async def started(data_dir: Path) -> RaceControl:
    app = RaceControl(make_settings(data_dir))
    await app.start()
    return app


async def test_a_restart_keeps_the_session_clock_and_an_edit_moves_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    app = await started(data)
    try:
        assert app.services is not None
        async with aiohttp.ClientSession() as http:
            api = Api(http, app.http_url, app.services.api_token)
            event = await api.ok("POST", "/api/events", {"name": "Race", "date": "2026-06-01"}, 201)
            session = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201)
        before = session_row(app, session["id"])
    finally:
        await app.stop()

    app = await started(data)  # a new epoch is written for the session at start-up
    try:
        assert app.services is not None
        after = session_row(app, session["id"])
        assert after["epochs"] != before["epochs"], "the start-up wrote no new epoch"
        assert (after["hlc"], after["origin"]) == (before["hlc"], before["origin"])
        assert not after["pending"], "an epoch written at start-up is not a change to send"

        async with aiohttp.ClientSession() as http:
            api = Api(http, app.http_url, app.services.api_token)
            await api.ok("PATCH", f"/api/sessions/{session['id']}", {"name": "Finish line"})
        edited = session_row(app, session["id"])
        assert edited["hlc"] > after["hlc"] and edited["pending"]
    finally:
        await app.stop()
