"""GET /api/metrics: Prometheus text that the standard parser reads, with figures that move by
exactly what happened (reads sent over a real CTP01 socket, screens on real WebSockets)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from race_control.app import RaceControl
from tests.conftest import Api, make_settings
from tests.display.test_resume import finishers, lines, setup_session
from tests.helpers.live_app import running, wait_last_seq

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def stored(rc: RaceControl, api: Api, session_id: str, seq: int) -> None:
    """The session has derived display seq ``seq`` and everything derived so far is committed."""
    await wait_last_seq(rc, api, session_id, seq)  # derived (before the commit)...
    assert rc.services is not None
    await rc.services.pipeline.drain()  # ...and stored


async def scrape(api: Api) -> tuple[str, Samples]:
    async with api.http.get(api.base + "/api/metrics", headers=api.headers) as r:
        assert r.status == 200
        content_type = r.headers["Content-Type"]
        text = await r.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return content_type, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The one sample called ``name`` whose labels include ``labels`` (0 if there is none)."""
    found = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else 0.0


async def test_counters_grow_by_exactly_the_reads_sent(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    [stream] = await api.ok("GET", "/api/timing/sessions")
    content_type, before = await scrape(api)
    assert content_type.startswith("text/plain; version=0.0.4")
    assert value(before, "race_control_reads_total") == 0
    assert value(before, "race_control_screens", session=session["id"]) == 0

    await client.send(lines(1, 12))
    await stored(rc, api, session["id"], 12)
    _, after = await scrape(api)
    assert value(after, "race_control_reads_total") - value(before, "race_control_reads_total") == 12
    assert (
        value(after, "race_control_stream_reads_total", stream=stream["id"])
        - value(before, "race_control_stream_reads_total", stream=stream["id"])
        == 12
    )
    assert value(after, "race_control_display_events_total", session=session["id"]) == 12
    assert value(after, "race_control_session_finishers", session=session["id"]) == 12
    assert value(after, "race_control_stream_connections", stream=stream["id"]) == 1
    assert value(after, "race_control_ingest_backlog") == 0
    assert value(after, "race_control_store_failures_total") == 0
    assert value(after, "race_control_alerts_active", kind="storage_error") == 0
    assert value(after, "race_control_sync_backlog") == 0  # no central URL: sync off
    assert value(after, "race_control_sync_state", state="off") == 1

    await client.send(b"not a CTP01 line\r\n")
    await client.send(lines(14, 15))
    await stored(rc, api, session["id"], 14)
    _, later = await scrape(api)
    assert value(later, "race_control_reads_total") == 14
    assert value(later, "race_control_stream_bad_lines_total", stream=stream["id"]) == 1
    await client.close()


async def test_a_screen_has_its_queue_and_latency_histogram(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    async with api.http.ws_connect(session["display_url"].replace("http", "ws") + "/ws") as ws:
        await ws.receive_json(timeout=5)
        await ws.send_json({"type": "resume", "after_seq": 0, "screen_id": "tvmetrics1"})
        await client.send(lines(1, 5))
        for m in await finishers(ws, 5):
            await ws.send_json({"type": "rendered", "seq": m["seq"]})
        assert rc.services is not None
        [screen] = rc.services.hub.screens(session["id"])
        for _ in range(500):  # the hub reads the socket on the loop: let it see the five `rendered`
            if sum(screen.latency_counts) == 5:
                break
            await asyncio.sleep(0.01)
        _, samples = await scrape(api)
        labels: dict[str, Any] = {"session": session["id"], "screen_id": "tvmetrics1"}
        assert value(samples, "race_control_screens", session=session["id"]) == 1
        assert value(samples, "race_control_screen_queue", **labels) == 0
        assert value(samples, "race_control_screen_latency_seconds_count", **labels) == 5
        assert value(samples, "race_control_screen_latency_seconds_bucket", le="+Inf", **labels) == 5
        # loopback: every latency is well under the 10 s bucket, none only in +Inf
        assert value(samples, "race_control_screen_latency_seconds_bucket", le="10.0", **labels) == 5
        assert value(samples, "race_control_screen_latency_seconds_sum", **labels) > 0
        buckets = sorted(
            (float(dict(ls)["le"]), v)
            for (n, ls), v in samples.items()
            if n == "race_control_screen_latency_seconds_bucket"
        )
        assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
    await client.close()


async def test_alerts_by_kind_are_counted(rc: RaceControl, api: Api) -> None:
    assert rc.services is not None
    rc.services.alerts.raise_alert("screen_lost", "a", "screen a dropped")
    rc.services.alerts.raise_alert("screen_lost", "b", "screen b dropped")
    rc.services.alerts.clear("screen_lost", "b")
    _, samples = await scrape(api)
    assert value(samples, "race_control_alerts_active", kind="screen_lost") == 1
    assert value(samples, "race_control_alerts_active", kind="low_disk") == 0


async def test_two_instances_in_one_process_have_their_own_figures(tmp_path: Path) -> None:
    async with (
        running(make_settings(tmp_path / "one")) as (one, api1),
        running(make_settings(tmp_path / "two")) as (_two, api2),
    ):
        session, client = await setup_session(api1, one.timing_port)
        await client.send(lines(1, 4))
        await stored(one, api1, session["id"], 4)
        _, first = await scrape(api1)
        _, second = await scrape(api2)
        assert value(first, "race_control_reads_total") == 4
        assert value(second, "race_control_reads_total") == 0
        await client.close()


async def test_metrics_need_the_api_token(api: Api) -> None:
    async with api.http.get(api.base + "/api/metrics") as r:
        assert r.status == 401
    async with api.http.get(api.base + "/api/metrics", headers={"Authorization": "Bearer nope"}) as r:
        assert r.status == 401
