"""Marking a display session public (served beyond the venue by ``race-control relay``):
one operation, through the session API, stored in the session's settings and kept across a
restart; bad values change nothing."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from race_control.store.models import DisplaySession
from tests.conftest import make_settings
from tests.helpers.live_app import running


async def test_public_is_set_through_the_session_api_and_survives_a_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    async with running(settings) as (rc, api):
        event = await api.ok("POST", "/api/events", {"name": "Public 5K", "date": "2026-06-01"}, 201)
        created = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201)
        sid = created["id"]
        assert created["public"] is False
        changed = await api.ok("PATCH", f"/api/sessions/{sid}", {"public": True})
        assert changed["public"] is True
        assert (await api.ok("GET", f"/api/sessions/{sid}"))["public"] is True
        for bad in ("yes", 1, None):
            status, body = await api.call("PATCH", f"/api/sessions/{sid}", {"public": bad, "name": "X"})
            assert status == 400 and "'public'" in body["error"]
        assert (await api.ok("GET", f"/api/sessions/{sid}"))["name"] == ""  # nothing half-applied
        assert rc.services is not None
        store = rc.services.store
        row = await store.run(
            lambda c: c.execute(
                select(DisplaySession.__table__.c.settings).where(DisplaySession.__table__.c.id == sid)
            ).scalar_one()
        )
        assert row["public"] is True  # the central push copies it to display_sessions.public
        assert row["epochs"]  # the epoch history is kept next to it
        ops_result = await rc.services.ops.sessions.set_public(sid, False)
        assert ops_result.session.public is False
        await rc.services.ops.sessions.set_public(sid, True)
        public_create = await api.ok(
            "POST", "/api/sessions", {"event_id": event["id"], "mode": "results", "public": True}, 201
        )
        assert public_create["public"] is True
    async with running(settings) as (_rc, api):
        assert (await api.ok("GET", f"/api/sessions/{sid}"))["public"] is True
        assert (await api.ok("GET", f"/api/sessions/{public_create['id']}"))["public"] is True
