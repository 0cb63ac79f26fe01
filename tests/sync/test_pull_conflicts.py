"""The conflict rule on a real PostgreSQL, two laptops of one partner: a local race-day edit is
never overwritten by an older central row, a newer one wins, a laptop whose clock is behind
still orders its next change after what it pulled, and tombstones win both ways."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from tests.sync.laptops import Central, Laptop, laptop, partners
from tests.sync.test_pull import base_template, share_a_race

OTHER = "laptop-" + uuid.uuid4().hex[:8]  # a third laptop of the partner, writing directly


def central_update(central: Central, table: str, key: str, hlc: int, **values: Any) -> None:
    """What another laptop's push does to a row: new values, its clock and origin, this
    transaction as ``tx``."""
    sets = ", ".join(f"{k} = %s" for k in values)
    args = [json.dumps(v) if isinstance(v, dict) else v for v in values.values()]
    conn = central.partner()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                f"UPDATE {table} SET {sets}{', ' if sets else ''}hlc = %s, origin = %s,"
                " tx = pg_current_xact_id()::text::bigint WHERE id = %s",
                [*args, hlc, OTHER, key],
            )
            assert cur.rowcount == 1
    finally:
        conn.close()


def central_hlc(central: Central, table: str, key: str) -> int:
    conn = central.owner()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT hlc FROM {table} WHERE id = %s", (key,))
            return int(cur.fetchone()[0])
    finally:
        conn.close()


async def template_name(lap: Laptop, tid: str) -> str:
    return str((await lap.api.ok("GET", f"/api/templates/{tid}"))["name"])


async def test_a_local_edit_is_never_overwritten_by_an_older_central_row(tmp_path: Path) -> None:
    with partners(1) as central:
        url = central.partners[0]["url"]
        async with laptop(tmp_path, "a", url) as a, laptop(tmp_path, "b", url) as b:
            race = await share_a_race(a)
            await a.push()
            await b.pull_all(central)
            tid, sid = race["template"]["id"], race["session"]["id"]

            # A edits, and its push lands; THEN B edits here (on race day, offline from A)
            await a.api.ok("PUT", f"/api/templates/{tid}", await base_template(a, "A earlier", "#111111"))
            await a.push()
            await b.api.ok("PUT", f"/api/templates/{tid}", await base_template(b, "B race day", "#222222"))
            mine = await b.sync_row("templates", tid)
            assert mine is not None and mine[3] == 1  # pending here
            assert central_hlc(central, "templates", tid) < mine[0]  # the central row is older
            await b.pull_all(central)  # reads A's row (its cursor is past it) …
            assert await template_name(b, tid) == "B race day"  # … and keeps the local edit
            assert await b.sync_row("templates", tid) == mine  # still B's change, still pending

            # a newer central row wins: A edits after B did
            await a.api.ok("PUT", f"/api/templates/{tid}", await base_template(a, "A later", "#333333"))
            await a.push()
            assert central_hlc(central, "templates", tid) > mine[0]
            await b.pull_all(central)
            assert await template_name(b, tid) == "A later"
            theirs = await b.sync_row("templates", tid)
            assert theirs == (central_hlc(central, "templates", tid), await a.device(), 0, 0)
            assert await b.push() == 0  # B's overtaken edit is not sent any more

            # A's laptop clock runs an hour ahead: its change carries a clock B has not reached
            ahead = int((time.time() + 3600) * 1000) << 16

            def set_clock(conn: Any) -> None:
                conn.exec_driver_sql("UPDATE sync_clock SET hlc = ?", (ahead,))

            await a.store.run(set_clock)
            await a.api.ok("PATCH", f"/api/sessions/{sid}", {"name": "From A"})
            a_hlc = (await a.sync_row("display_sessions", sid))[0]
            assert a_hlc > ahead > (int(time.time() * 1000) << 16)
            await a.push()
            await b.pull_all(central)
            assert (await b.api.ok("GET", f"/api/sessions/{sid}"))["name"] == "From A"
            assert await b.clock() >= a_hlc  # B's clock moved up to what it pulled
            # so B's next change sorts after A's, although B's wall clock is an hour behind
            await b.api.ok("PATCH", f"/api/sessions/{sid}", {"name": "From B after seeing A"})
            assert (await b.sync_row("display_sessions", sid))[0] > a_hlc
            await b.push()
            await a.pull_all(central)
            assert (await a.api.ok("GET", f"/api/sessions/{sid}"))["name"] == "From B after seeing A"


async def test_tombstones_win_both_ways(tmp_path: Path) -> None:
    with partners(1) as central:
        url = central.partners[0]["url"]
        async with laptop(tmp_path, "a", url) as a, laptop(tmp_path, "b", url) as b:
            race = await share_a_race(a)
            spare = await a.api.ok("POST", "/api/templates", await base_template(a, "Spare", "#444444"), 201)
            other = await a.api.ok("POST", "/api/events", {"name": "Fun run", "date": "2026-06-08"}, 201)
            added = await a.api.ok(
                "POST",
                f"/api/events/{other['id']}/participants",
                [{"bib": "1", "first_name": "Di"}, {"bib": "2", "first_name": "Ed"}],
            )
            assert added["imported"] == 2
            await a.push()
            await b.pull_all(central)
            tid, sid, eid = race["template"]["id"], race["session"]["id"], race["event"]["id"]

            # a central tombstone wins over a NEWER local edit: the template goes here
            await b.api.ok("PUT", f"/api/templates/{tid}", await base_template(b, "B newer", "#555555"))
            older = central_hlc(central, "templates", tid) + 1
            assert older < (await b.sync_row("templates", tid))[0]
            central_update(central, "templates", tid, older, deleted=True)
            await b.pull_all(central)
            assert tid not in {t["id"] for t in await b.api.ok("GET", "/api/templates")}
            status, _ = await b.api.call("GET", f"/api/templates/{tid}")
            assert status == 404
            assert await b.sync_row("templates", tid) == (older, OTHER, 1, 0)
            assert await b.push() == 0  # the local edit is not sent back over the tombstone

            # a session deleted elsewhere is closed here (its display events stay); a deleted
            # participant leaves the roster; a deleted event stays while a session here has it
            s_hlc = central_hlc(central, "display_sessions", sid) + 1
            central_update(central, "display_sessions", sid, s_hlc, deleted=True)
            bo = next(p for p in await b.api.ok("GET", f"/api/events/{eid}/participants") if p["bib"] == "8")
            del bo
            pid = await b.store.run(
                lambda c: c.exec_driver_sql("SELECT id FROM participants WHERE bib = '8'").scalar()
            )
            central_update(
                central, "participants", pid, central_hlc(central, "participants", pid) + 1, deleted=True
            )
            central_update(central, "events", eid, central_hlc(central, "events", eid) + 1, deleted=True)
            await b.pull_all(central)
            assert (await b.api.ok("GET", f"/api/sessions/{sid}"))["status"] == "closed"
            assert [p["bib"] for p in await b.api.ok("GET", f"/api/events/{eid}/participants")] == ["7"]
            assert eid in [e["id"] for e in await b.api.ok("GET", "/api/events")]
            # an event without sessions deleted elsewhere goes here with its participants, and
            # deleting them here sends nothing back (only the event's tombstone came down)
            central_update(
                central, "events", other["id"], central_hlc(central, "events", other["id"]) + 1, deleted=True
            )
            await b.pull_all(central)
            assert [e["id"] for e in await b.api.ok("GET", "/api/events")] == [eid]
            status, _ = await b.api.call("GET", f"/api/events/{other['id']}/participants")
            assert status == 404
            assert await b.push() == 0

            # a local tombstone wins: the spare template deleted here never comes back, even
            # when another laptop changes it later (the delete is what any delete here does:
            # the triggers record it)
            await b.store.run(
                lambda c: c.exec_driver_sql("DELETE FROM templates WHERE id = ?", (spare["id"],))
            )
            gone = await b.sync_row("templates", spare["id"])
            assert gone is not None and gone[2] == 1
            await a.api.ok(
                "PUT", f"/api/templates/{spare['id']}", await base_template(a, "Spare v2", "#666666")
            )
            await a.push()
            assert central_hlc(central, "templates", spare["id"]) > gone[0]  # newer than the delete
            await b.pull_all(central)

            def spare_row(conn: Any) -> Any:
                return conn.exec_driver_sql("SELECT name FROM templates WHERE id = ?", (spare["id"],)).first()

            assert await b.store.run(spare_row) is None
            assert await b.sync_row("templates", spare["id"]) == gone


async def test_runners_follow_their_bib_and_a_bib_held_here_stays_here(tmp_path: Path) -> None:
    with partners(1) as central:
        url = central.partners[0]["url"]
        async with laptop(tmp_path, "a", url) as a, laptop(tmp_path, "b", url) as b:
            race = await share_a_race(a)
            eid = race["event"]["id"]
            await a.push()
            await b.pull_all(central)
            # A moves runner 8 to bib 18 (a local edit): B's roster follows, keyed by the runner
            await a.api.ok("PATCH", f"/api/events/{eid}/participants/8", {"bib": "18", "city": "Bath"})
            await a.push()
            await b.pull_all(central)
            roster = {p["bib"]: p for p in await b.api.ok("GET", f"/api/events/{eid}/participants")}
            assert sorted(roster) == ["18", "7"] and roster["18"]["city"] == "Bath"
            # both laptops add bib 30 to the event before either syncs: two runners, one bib
            await a.api.ok("POST", f"/api/events/{eid}/participants", [{"bib": "30", "first_name": "On A"}])
            await b.api.ok("POST", f"/api/events/{eid}/participants", [{"bib": "30", "first_name": "On B"}])
            await a.push()
            await b.pull_all(central)
            roster = {p["bib"]: p for p in await b.api.ok("GET", f"/api/events/{eid}/participants")}
            assert roster["30"]["first_name"] == "On B"  # the runner B knows by that bib stays
