"""The real 2021 race, replayed end to end: simulator → CTP01 → store → crossing rules → screen.

All four controller folders are played at full speed (``simulate(speed=0)``) into a real
in-process server.  A 19K split session with a 300 s duplicate window is bound before the first
read.  The expected finishers are derived here, independently of our controller-file parser and
crossing engine, straight from the ``TO~`` lines: for each bib, its 19K reads in time order, one
accepted when it is >= 300 s after that bib's last accepted read (test tags ignored).  The screen
must receive exactly that list, in seq order: nothing lost, nothing doubled.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from race_control.app import RaceControl
from race_control.timing.simulator.playback import simulate
from race_control.timing.simulator.sources import SimSource
from tests.conftest import DATA, Api
from tests.helpers.ctp01_peer import RawCtp01Client

pytestmark = pytest.mark.slow

RACE = DATA / "chronotrack-2021"
FOLDERS = ("START1", "FINISH1", "9K", "19K")
TEST_TAGS = ["99995", "99996", "99997", "99998"]
WINDOW_CS = 300 * 100  # the duplicate window, in hundredths of a second
CONNECTION_ID = "replay-2021"


def to_lines(folder: str) -> list[list[str]]:
    """The ``TO~`` rows of every .csv in one controller folder, split on ``~``."""
    rows = []
    for path in sorted((RACE / folder).glob("*.csv")):
        for line in path.read_text("latin-1").splitlines():
            if line.startswith("TO~"):
                rows.append(line.split("~"))
    return rows


def bib_of(tag: str) -> str:
    """A tag read as the bib it stands for: leading zeros dropped."""
    return (tag.lstrip("0") or "0") if tag.isdigit() else tag


def expected_19k() -> list[str]:
    """Bibs the 19K screen must show, in order: TO~seq~tag~?~?~epoch~reader~antenna~..."""
    reads = []
    for index, f in enumerate(to_lines("19K")):
        tag = f[2].strip()
        if tag in TEST_TAGS:
            continue
        hundredths = round(float(f[5]) * 100)  # CT01_33 times carry hundredths
        bib = bib_of(tag)
        reads.append((hundredths, index, bib))
    reads.sort()  # time order; the simulator keeps file order within the same hundredth
    last: dict[str, int] = {}
    shown = []
    for hundredths, _index, bib in reads:
        if bib in last and hundredths - last[bib] < WINDOW_CS:
            continue
        last[bib] = hundredths
        shown.append(bib)
    return shown


async def test_replay_of_the_2021_race_reaches_the_screen_exactly(rc: RaceControl, api: Api) -> None:
    expected = expected_19k()
    line_counts = {folder: len(to_lines(folder)) for folder in FOLDERS}
    assert len(expected) > 400 and line_counts["FINISH1"] == 13_716

    event = await api.ok(
        "POST", "/api/events", {"name": "Run On The Mountain", "date": "2021-05-08", "timezone": "UTC"}, 201
    )
    rules = {"locations": ["19K"], "duplicate_window": 300, "ignore_tags": TEST_TAGS}
    session = await api.ok(
        "POST", "/api/sessions", {"event_id": event["id"], "mode": "results", "rules": rules}, 201
    )
    # the stream exists once a client with this connection id has identified itself: bind it
    # before the first read, so every finisher goes the live path
    probe = await RawCtp01Client.connect(rc.timing_port)
    await probe.handshake(CONNECTION_ID)
    await probe.close()
    streams = await api.ok("GET", "/api/timing/sessions")
    (stream,) = [s for s in streams if s["source_key"] == CONNECTION_ID]
    await api.ok("POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": stream["id"]})

    got: list[dict[str, Any]] = []
    ws_url = session["display_url"].replace("http://", "ws://") + "/ws"
    async with api.http.ws_connect(ws_url) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"

        async def screen() -> None:
            while True:
                msg = await ws.receive_json()
                if msg["type"] == "finisher":
                    got.append(msg)

        watcher = asyncio.create_task(screen())
        try:
            result = await simulate(
                "127.0.0.1",
                rc.timing_port,
                [SimSource(RACE / folder, folder) for folder in FOLDERS],
                speed=0,
                tz="UTC",
                connection_id=CONNECTION_ID,
            )
            assert result.undelivered == 0 and not result.bad_rows
            assert result.reads == sum(line_counts.values())
            assert rc.services is not None
            await rc.services.pipeline.drain()
            for _ in range(500):
                if len(got) >= len(expected):
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)  # anything doubled would arrive now
        finally:
            watcher.cancel()

    assert [m["seq"] for m in got] == list(range(1, len(got) + 1))
    bibs = [m["bib"] for m in got]
    assert len(bibs) == len(expected), (len(bibs), len(expected))
    assert bibs == expected
    assert {m["location"] for m in got} == {"19K"}
    info = await api.ok("GET", f"/api/sessions/{session['id']}")
    assert info["last_seq"] == len(expected)

    streams = await api.ok("GET", "/api/timing/sessions")
    (stream,) = [s for s in streams if s["source_key"] == CONNECTION_ID]
    assert stream["reads"] == sum(line_counts.values())
    assert set(stream["locations"]) >= set(FOLDERS)

    def per_location(conn: Any) -> dict[str, int]:
        rows = conn.exec_driver_sql(
            "select location, count(*) from reads where kind = 'tag' group by location"
        ).all()
        return {loc: n for loc, n in rows}

    assert await rc.services.store.run(per_location) == line_counts


def test_expectation_is_not_trivial() -> None:
    """The independent expectation really drops repeats within 300 s and test tags."""
    rows = to_lines("19K")
    expected = expected_19k()
    real = [f for f in rows if f[2].strip() not in TEST_TAGS]
    real_bibs = [bib_of(f[2].strip()) for f in real]
    assert len(real) < len(rows)  # the test tags are in the data: ignoring them drops reads
    assert len(set(real_bibs)) < len(real_bibs)  # and so are repeats: the window drops reads
    # every runner passes 19K once, so each repeat is within the window: one bib shown once each,
    # and no runner is lost
    assert len(set(expected)) == len(expected)
    assert set(expected) == set(real_bibs)
    assert not set(expected) & set(TEST_TAGS)
