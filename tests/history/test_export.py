"""A stored stream exported as a CT01_33 recording and played back by ``race-control simulate``
(a real subprocess, over a real socket) into a second server gives that server the same reads
and gun times: same locations, tags, times, laps, readers, gators, in the same seq order."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import Connection, select

from race_control.app import RaceControl
from race_control.store.models import RawLine, Read
from race_control.timing.ingest.recording_import import parse_recording
from race_control.timing.simulator.playback import simulate
from race_control.timing.simulator.sources import SimSource
from tests.conftest import DATA, Api, make_settings
from tests.helpers.live_app import drain_until
from tests.helpers.server_process import race_control_process, serve_env

pytestmark = pytest.mark.slow

RACE = DATA / "chronotrack-2021"


def _reads(conn: Connection, stream_id: str) -> list[tuple[Any, ...]]:
    t = Read.__table__
    q = select(t.c.location, t.c.seq, t.c.kind, t.c.tag, t.c.clock, t.c.lap, t.c.reader_id, t.c.gator)
    rows = conn.execute(q.where(t.c.stream_id == stream_id).order_by(t.c.location, t.c.seq))
    return [
        (loc, seq, kind, "" if kind == "gun" else tag, round(clock * 100), lap, reader, gator)
        for loc, seq, kind, tag, clock, lap, reader, gator in rows
    ]


def _raw(conn: Connection, stream_id: str) -> list[str]:
    t = RawLine.__table__
    return [r[0] for r in conn.execute(select(t.c.line).where(t.c.stream_id == stream_id).order_by(t.c.n))]


async def stored(rc: RaceControl, stream_id: str) -> list[tuple[Any, ...]]:
    assert rc.services is not None
    await rc.services.pipeline.drain()
    return await rc.services.store.run(_reads, stream_id)


async def export(api: Api, stream_id: str, fmt: str | None = None) -> tuple[bytes, Any]:
    query = f"?format={fmt}" if fmt else ""
    url = f"{api.base}/api/timing/sessions/{stream_id}/export{query}"
    async with api.http.get(url, headers=api.headers) as r:
        assert r.status == 200, await r.text()
        return await r.read(), r.headers


async def play_into_second_server(tmp_path: Path, recording: bytes, conn_id: str) -> list[tuple[Any, ...]]:
    """``race-control simulate FILE.ctp`` into a fresh server; that server's stored reads."""
    path = tmp_path / f"{conn_id}.ctp"
    path.write_bytes(recording)
    other = RaceControl(make_settings(tmp_path / f"data-{conn_id}"))
    await other.start()
    try:
        proc = await race_control_process(
            "simulate",
            *("--host", "127.0.0.1", "--port", str(other.timing_port), "--speed", "0"),
            *("--connection-id", conn_id, str(path)),
            env=serve_env(tmp_path / "unused"),
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, (out, err)
        assert b"0 undelivered, 0 bad rows" in out, out
        assert other.services is not None
        (state,) = [s for s in other.services.timing.streams() if s.source_key == conn_id]
        want = recording.count(b"\nCT01_33~") + recording.startswith(b"CT01_33~")
        return await drain_until(other, lambda: stored(other, state.id), lambda rows: len(rows) >= want)
    finally:
        await other.stop()


async def test_a_live_ctp01_stream_round_trips_through_simulate(
    rc: RaceControl, api: Api, tmp_path: Path
) -> None:
    result = await simulate(
        "127.0.0.1",
        rc.timing_port,
        [
            SimSource(RACE / "9K", "9K"),
            SimSource(RACE / "19K", "19K"),
            SimSource(RACE / "START1" / "5071909.mrk", "START1"),
        ],
        speed=0,
        connection_id="original",
    )
    assert result.undelivered == 0 and result.guns > 0
    assert rc.services is not None
    (state,) = [s for s in rc.services.timing.streams() if s.source_key == "original"]
    before = await drain_until(
        rc, lambda: stored(rc, state.id), lambda rows: len(rows) == result.reads + result.guns
    )
    assert len(before) == result.reads + result.guns
    body, headers = await export(api, state.id)
    assert headers["Content-Type"].startswith("text/plain")
    lines = body.decode("latin-1").splitlines()
    data = [line for line in lines if line.startswith("CT01_33~")]
    assert len(data) == len(before) and all(line.startswith(("#", "CT01_33~")) for line in lines)
    assert sum("~guntime~" in line for line in data) == result.guns

    after = await play_into_second_server(tmp_path, body, "played-back")
    assert after == before
    original, _ = await export(api, state.id, "original")  # the lines the client sent, verbatim
    assert rc.services is not None
    assert original.decode("latin-1").splitlines() == await rc.services.store.run(_raw, state.id)
    data_lines = [x for x in original.split(b"\n") if x.startswith(b"CT01_33~") and b"~newlocation~" not in x]
    assert len(data_lines) == len(before) and original.startswith(b"SimpleClient~")
    status, summary = await import_recording(api, original)  # the raw log imports as it is
    assert status == 201, summary
    copy = await drain_until(
        rc, lambda: stored(rc, summary["timing_session_id"]), lambda r: len(r) == len(before)
    )
    assert copy == before
    assert {r[0] for r in after} == {"9K", "19K", "START1"}
    assert sum(r[2] == "gun" for r in after) == result.guns


async def test_a_controller_file_import_round_trips_and_keeps_its_original_lines(
    rc: RaceControl, api: Api, tmp_path: Path
) -> None:
    summary = await api.ok(
        "POST",
        "/api/timing/import",
        {"path": str(RACE / "FINISH1"), "location": "FINISH1", "timezone": "UTC"},
        201,
    )
    stream_id = summary["timing_session_id"]
    before = await drain_until(
        rc,
        lambda: stored(rc, stream_id),
        lambda rows: len(rows) == summary["reads"] + summary["gun_times"],
    )
    assert summary["gun_times"] > 0 and len(before) == summary["reads"] + summary["gun_times"]
    body, _ = await export(api, stream_id)
    assert await play_into_second_server(tmp_path, body, "from-files") == before

    # ?format=original: the stored raw lines, i.e. the files' own rows, verbatim
    original, headers = await export(api, stream_id, "original")
    assert rc.services is not None
    raw = await rc.services.store.run(_raw, stream_id)
    assert original.decode("latin-1").splitlines() == raw
    file_rows = set()
    for f in (RACE / "FINISH1").iterdir():
        file_rows |= set(f.read_text("latin-1").splitlines())
    assert raw and set(raw) <= file_rows
    assert 'filename="timing-' in headers["Content-Disposition"]


async def test_export_errors_and_token(rc: RaceControl, api: Api) -> None:
    status, body = await api.call("GET", "/api/timing/sessions/nope/export")
    assert status == 404 and "nope" in body["error"]
    summary = await api.ok("POST", "/api/timing/import", {"path": str(RACE / "19K"), "location": "19K"}, 201)
    sid = summary["timing_session_id"]
    status, body = await api.call("GET", f"/api/timing/sessions/{sid}/export?format=xml")
    assert status == 400 and "format" in body["error"]
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.get(f"{api.base}/api/timing/sessions/{sid}/export") as r,
    ):
        assert r.status == 401


async def test_a_stream_name_cannot_smuggle_a_read_into_the_recording(
    rc: RaceControl, api: Api, tmp_path: Path
) -> None:
    folder = tmp_path / "CT01_33~1~19K~666~09:00:00.00~1~0FA22E~1"  # the event name is the folder's
    folder.mkdir()
    lines = (RACE / "19K" / "5072019.csv").read_text("latin-1").splitlines()[:20]
    (folder / "5072019.csv").write_text("\n".join(lines) + "\n", "latin-1")
    summary = await api.ok("POST", "/api/timing/import", {"path": str(folder), "location": "19K"}, 201)
    stream_id = summary["timing_session_id"]
    rows = await drain_until(rc, lambda: stored(rc, stream_id), lambda rows: len(rows) == 20)
    body, _ = await export(api, stream_id)
    text = body.decode("latin-1")
    assert text.count("CT01_33~") == len(rows) == 20
    assert "# event: CT01_33-1-19K-666" in text


async def import_recording(api: Api, data: bytes, query: str = "") -> tuple[int, Any]:
    async with api.http.post(f"{api.base}/api/timing/recordings{query}", data=data, headers=api.headers) as r:
        return r.status, await r.json()


async def test_an_exported_recording_imports_back_as_a_stream_with_its_own_numbers(
    rc: RaceControl, api: Api
) -> None:
    result = await simulate(
        "127.0.0.1",
        rc.timing_port,
        [SimSource(RACE / "19K", "19K"), SimSource(RACE / "START1" / "5071909.mrk", "START1")],
        speed=0,
        connection_id="to-import",
    )
    assert rc.services is not None
    (state,) = [s for s in rc.services.timing.streams() if s.source_key == "to-import"]
    total = result.reads + result.guns
    before = await drain_until(rc, lambda: stored(rc, state.id), lambda rows: len(rows) == total)
    body, _ = await export(api, state.id)

    status, summary = await import_recording(api, body)
    assert status == 201, summary
    assert (summary["reads"], summary["gun_times"]) == (result.reads, result.guns)
    assert summary["timing_session_id"] != state.id and summary["reference_date"] == state.reference_date
    after = await drain_until(rc, lambda: stored(rc, summary["timing_session_id"]), lambda r: len(r) == total)
    assert after == before  # seqs too: the recorded numbers are kept
    info = await api.ok("GET", f"/api/timing/sessions/{summary['timing_session_id']}")
    assert info["protocol"] == "ctp01-recording" and set(info["locations"]) == {"19K", "START1"}

    status, again = await import_recording(api, body)  # the same recording twice adds nothing
    assert status == 201 and again["timing_session_id"] == summary["timing_session_id"]
    assert again["reads"] == 0 and again["already_imported"] == total


async def test_a_raw_ctp01_log_imports_and_bad_recordings_are_refused_whole(
    rc: RaceControl, api: Api
) -> None:
    raw_log = (DATA / "ctp01" / "simpleclient-push.txt").read_bytes()
    status, summary = await import_recording(api, raw_log, "?date=2008-03-02&timezone=America/Los_Angeles")
    assert status == 201, summary
    rows = await drain_until(
        rc,
        lambda: stored(rc, summary["timing_session_id"]),
        lambda r: len(r) == summary["reads"] + summary["gun_times"],
    )
    assert ("start", 1, "tag", "9478") in [r[:4] for r in rows]
    assert (summary["reads"], summary["gun_times"]) == (4, 1)  # a newlocation line is not a read
    assert summary["reference_date"] == "2008-03-02"
    headed = b"# stream: abc\n# reference_date: 2020-01-02\n# timezone: Europe/Paris\n" + raw_log
    status, headed_summary = await import_recording(api, headed)  # the export's header says the clock
    assert status == 201, headed_summary
    info = await api.ok("GET", f"/api/timing/sessions/{headed_summary['timing_session_id']}")
    assert (info["reference_date"], info["timezone"]) == ("2020-01-02", "Europe/Paris")

    as_json = {"content": raw_log.decode("latin-1"), "date": "2008-03-02", "timezone": "America/Los_Angeles"}
    again = await api.ok("POST", "/api/timing/recordings", as_json, 201)  # the same file as JSON
    assert again["timing_session_id"] == summary["timing_session_id"] and again["already_imported"] == 5

    streams = len(await api.ok("GET", "/api/timing/sessions"))
    for body, problem in (
        ({"content": 5}, "'content' must be a string"),
        ({"text": "x"}, "unknown field"),
        ({"content": "CT01_33~1~finish~7~09:00:01.00~1~0FA22E~1 €"}, "Latin-1"),
    ):
        status, answer = await api.call("POST", "/api/timing/recordings", body)
        assert status == 400 and problem in answer["error"], (body, answer)
    bad = b"CT01_33~1~finish~7~09:00:01.00~1~0FA22E~1\nCT01_33~2~finish~8~not-a-time~1~0FA22E~1\n"
    status, body = await import_recording(api, bad)
    assert status == 400 and "line 2" in body["error"] and "not-a-time" in body["error"]
    status, body = await import_recording(api, b"hello\nworld\n")
    assert status == 400 and "no CT01_33 data line" in body["error"]
    status, body = await import_recording(api, bad[:42], "?timezone=Mars/Olympus")
    assert status == 400 and "Mars/Olympus" in body["error"]
    status, body = await import_recording(api, bad[:42], "?speed=2")
    assert status == 400 and "speed" in body["error"]
    assert len(await api.ok("GET", "/api/timing/sessions")) == streams  # nothing half-applied


def test_a_recording_of_a_race_run_across_midnight_keeps_its_order() -> None:
    """A New Year's Eve race recorded in ``normal`` time: after 23:59 the clock reads 00:00 again,
    and each bare time of day follows the read before it onto the next day."""
    lines = [
        "CT01_33~1~start~guntime~23:30:00.00~0~0FA22E~1",
        "CT01_33~1~finish~7~23:58:40.00~1~0FA22E~1",
        "CT01_33~2~finish~8~00:02:05.50~1~0FA22E~1",
        "CT01_33~3~finish~9~00:01:59.00~1~0FA22E~1",  # a backup mat's read, a little out of order
        "CT01_33~4~finish~10~01:15:00.00~1~0FA22E~1",
    ]
    rec = parse_recording("\n".join(lines).encode(), timezone="UTC", date="2026-12-31", name="nye")
    gun, *finishers = (ev.clock for ev in rec.events)
    assert gun == 84_600.0
    assert [round(c - gun, 2) for c in finishers] == [1720.0, 1925.5, 1919.0, 6300.0]
