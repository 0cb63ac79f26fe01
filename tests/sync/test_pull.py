"""Pull and share on a real PostgreSQL: two laptops of one partner (two data dirs, two device
ids) see each other's templates, sessions, events and participants through their real APIs;
the conflict rule keeps a local race-day edit against an older central row and takes a newer
one; another partner gets nothing."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers.waiting import until
from tests.sync.laptops import Laptop, laptop, partners


async def base_template(lap: Laptop, name: str, accent: str) -> dict[str, Any]:
    body = copy.deepcopy(await lap.api.ok("GET", "/api/templates/results-classic"))
    body.pop("id", None)
    body.pop("version", None)
    body["name"] = name
    body["theme"]["accent"] = accent
    return body


async def share_a_race(a: Laptop) -> dict[str, Any]:
    """On laptop A: an event with two runners, a custom template and a session showing it."""
    event = await a.api.ok("POST", "/api/events", {"name": "Harbor 10K", "date": "2026-06-07"}, 201)
    imported = await a.api.ok(
        "POST",
        f"/api/events/{event['id']}/participants",
        [{"bib": "7", "first_name": "Ann", "last_name": "Lee"}, {"bib": "8", "first_name": "Bo"}],
    )
    assert imported["imported"] == 2
    template = await a.api.ok("POST", "/api/templates", await base_template(a, "Harbor blue", "#1e90ff"), 201)
    session = await a.api.ok(
        "POST",
        "/api/sessions",
        {"event_id": event["id"], "mode": "results", "name": "Finish", "template_id": template["id"]},
        201,
    )
    return {"event": event, "template": template, "session": session}


async def test_what_a_shares_b_lists_through_its_api(tmp_path: Path) -> None:
    with partners(1) as central:
        url = central.partners[0]["url"]
        async with laptop(tmp_path, "a", url) as a, laptop(tmp_path, "b", url) as b:
            assert await a.device() != await b.device()
            race = await share_a_race(a)
            assert await b.pull_all(central) == 0  # nothing central yet
            assert await a.push() > 0
            applied = await b.pull_all(central)
            assert applied == 5  # event, 2 participants, template, session

            templates = {t["id"]: t for t in await b.api.ok("GET", "/api/templates")}
            tid = race["template"]["id"]
            assert templates[tid]["name"] == "Harbor blue" and not templates[tid]["builtin"]
            assert (await b.api.ok("GET", f"/api/templates/{tid}"))["theme"]["accent"] == "#1e90ff"
            sessions = await b.api.ok("GET", "/api/sessions")
            assert [(s["id"], s["name"], s["template_id"]) for s in sessions] == [
                (race["session"]["id"], "Finish", tid)
            ]
            # the same screen URL path on both laptops (the token is the session's, not the laptop's)
            assert (
                sessions[0]["display_url"].split("/display/")[1]
                == race["session"]["display_url"].split("/display/")[1]
            )
            events = await b.api.ok("GET", "/api/events")
            assert [e["id"] for e in events] == [race["event"]["id"]]
            roster = await b.api.ok("GET", f"/api/events/{race['event']['id']}/participants")
            assert [(p["bib"], p["first_name"]) for p in roster] == [("7", "Ann"), ("8", "Bo")]
            # the desktop hears of it like of any action
            kinds = {(c.kind, c.action) for c in b.changes}
            assert {("event", "created"), ("participant", "created"), ("template", "created")} <= kinds
            assert ("session", "created") in kinds

            # pulled rows are not sent back: B's outbox is empty, its clock is past A's changes
            assert await b.push() == 0
            a_hlc = (await a.sync_row("display_sessions", race["session"]["id"]))[0]
            assert await b.clock() >= a_hlc
            assert await b.sync_row("templates", tid) == (
                (await a.sync_row("templates", tid))[0],
                await a.device(),
                0,
                0,
            )
            # pulling again changes nothing
            assert await b.pull_all(central) == 0

            # A changes the template and the session: B's cache, live session and screens follow
            screen_url = sessions[0]["display_url"].replace("http", "ws") + "/ws"
            async with b.api.http.ws_connect(screen_url) as ws:
                hello = await ws.receive_json(timeout=5)
                assert hello["template"]["theme"]["accent"] == "#1e90ff"
                body = await base_template(a, "Harbor red", "#ff4500")
                await a.api.ok("PUT", f"/api/templates/{tid}", body)
                await a.api.ok(
                    "PATCH", f"/api/sessions/{race['session']['id']}", {"mode": "pre-race", "name": "Start"}
                )
                await a.push()
                assert await b.pull_all(central) == 2
                got = await b.api.ok("GET", f"/api/templates/{tid}")
                assert (got["version"], got["name"], got["theme"]["accent"]) == (2, "Harbor red", "#ff4500")
                s = await b.api.ok("GET", f"/api/sessions/{race['session']['id']}")
                assert (s["mode"], s["name"]) == ("pre-race", "Start")
                seen: dict[str, Any] = {}
                for _ in range(50):  # what B's screen is told (besides pings and the like)
                    msg = await ws.receive_json(timeout=5)
                    seen[msg["type"]] = msg
                    if {"template", "mode"} <= seen.keys():
                        break
                assert seen["template"]["template"]["theme"]["accent"] == "#ff4500"  # restyled
                assert seen["mode"]["mode"] == "pre-race"

            # and what B adds reaches A the same way
            await b.api.ok(
                "POST", f"/api/events/{race['event']['id']}/participants", [{"bib": "9", "first_name": "Cy"}]
            )
            await b.push()
            assert await a.pull_all(central) == 1
            roster = await a.api.ok("GET", f"/api/events/{race['event']['id']}/participants")
            assert [p["bib"] for p in roster] == ["7", "8", "9"]


async def test_a_second_partner_never_receives_the_first_ones_rows(tmp_path: Path) -> None:
    with partners(2) as central:
        one, two = central.partners[0]["url"], central.partners[1]["url"]
        async with laptop(tmp_path, "a", one) as a, laptop(tmp_path, "c", two) as c:
            await share_a_race(a)
            await a.push()
            assert await c.pull_all(central) == 0
            assert await c.api.ok("GET", "/api/events") == []
            assert await c.api.ok("GET", "/api/sessions") == []
            assert all(t["builtin"] for t in await c.api.ok("GET", "/api/templates"))


async def test_the_sync_worker_pulls_by_itself(tmp_path: Path) -> None:
    """Configured laptops: what A saves shows up in B's lists with no one pulling by hand."""
    with partners(1) as central:
        url = central.partners[0]["url"]
        async with laptop(tmp_path, "a", url, worker=True) as a, laptop(tmp_path, "b", url, worker=True) as b:
            race = await share_a_race(a)
            tid, sid = race["template"]["id"], race["session"]["id"]

            async def b_lists_it() -> bool:
                listed = {t["id"] for t in await b.api.ok("GET", "/api/templates")}
                return tid in listed and sid in {s["id"] for s in await b.api.ok("GET", "/api/sessions")}

            await until(b_lists_it, "B's lists to show A's template and session", timeout=60)
            assert (await b.api.ok("GET", "/api/sync"))["pulled"] >= 5
            body = await base_template(b, "Edited on B", "#00aa00")
            await b.api.ok("PUT", f"/api/templates/{tid}", body)

            async def a_has_it() -> bool:
                return (await a.api.ok("GET", f"/api/templates/{tid}"))["name"] == "Edited on B"

            await until(a_has_it, "A to get B's edit", timeout=60)


async def test_presets_saved_on_one_laptop_set_up_sessions_on_another(tmp_path: Path) -> None:
    with partners(1) as central:
        url = central.partners[0]["url"]
        async with laptop(tmp_path, "a", url) as a, laptop(tmp_path, "b", url) as b:
            race = await share_a_race(a)
            sid, eid, tid = race["session"]["id"], race["event"]["id"], race["template"]["id"]
            await a.api.ok(
                "PATCH", f"/api/sessions/{sid}", {"leaderboard_top": 5, "rules": {"duplicate_window": 12}}
            )
            preset = await a.api.ok(
                "POST", "/api/presets", {"name": "Harbor finish", "kind": "session", "session_id": sid}, 201
            )
            assert preset["body"]["template_id"] == tid and preset["body"]["leaderboard_top"] == 5
            rules = await a.api.ok(
                "POST", "/api/presets", {"name": "12 s window", "kind": "rules", "session_id": sid}, 201
            )
            assert set(rules["body"]) == {"rules"}
            status, bad = await a.api.call(
                "POST", "/api/presets", {"name": "x", "kind": "layout", "session_id": sid}
            )
            assert status == 400 and "'kind'" in bad["error"]
            await a.push()
            await b.pull_all(central)

            listed = await b.api.ok("GET", "/api/presets")
            assert [(p["name"], p["kind"]) for p in listed] == [
                ("12 s window", "rules"),
                ("Harbor finish", "session"),
            ]
            assert listed[1] == preset
            made = await b.api.ok(
                "POST", f"/api/presets/{preset['id']}/sessions", {"event_id": eid, "name": "Next wave"}, 201
            )
            assert (made["name"], made["mode"], made["template_id"], made["leaderboard_top"]) == (
                "Next wave",
                "results",
                tid,
                5,
            )
            assert made["rules"]["duplicate_window"] == 12
            assert ("preset", "created") in {(c.kind, c.action) for c in b.changes}
            status, _ = await b.api.call("POST", "/api/presets/nope/sessions", {"event_id": eid})
            assert status == 404


async def test_a_session_closed_on_one_laptop_closes_and_disconnects_on_the_other(tmp_path: Path) -> None:
    with partners(1) as central:
        url = central.partners[0]["url"]
        async with laptop(tmp_path, "a", url) as a, laptop(tmp_path, "b", url) as b:
            race = await share_a_race(a)
            sid = race["session"]["id"]
            await a.push()
            await b.pull_all(central)
            screen = (await b.api.ok("GET", f"/api/sessions/{sid}"))["display_url"].replace(
                "http", "ws"
            ) + "/ws"
            async with b.api.http.ws_connect(screen) as ws:
                await ws.receive_json(timeout=5)  # hello
                resume = {"type": "resume", "after_seq": 0, "screen_id": "s" * 24, "viewport": [1920, 1080]}
                await ws.send_json(resume)
                await until(lambda: b.rc.services.hub.screens(sid), "B's screen connected")
                await a.api.ok("DELETE", f"/api/sessions/{sid}")  # closed on A
                await a.push()
                await b.pull_all(central)
                assert (await b.api.ok("GET", f"/api/sessions/{sid}"))["status"] == "closed"
                for _ in range(50):
                    msg = await ws.receive(timeout=5)
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4410  # "display session closed"
