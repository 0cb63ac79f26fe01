"""RACE RESULT end to end: a fake decoder on loopback, a real in-process Race Control.

``FakeDecoder`` is a hand-written TCP server speaking the decoder side of protocol
2.0 (docs/protocols/raceresult.md): it answers the handshake, ``PASSINGS``, ``<first>:<count>``
fetches (records, then an empty line) and pushes ``#P;`` lines once asked to.  It
can cut a connection in the middle of a fetch reply, so the tests can check that a
drop loses and doubles nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import Connection, select

from race_control.app import RaceControl
from race_control.store.models import Read
from race_control.timing.protocols.raceresult_passings import decode_seq, encode_seq
from tests.conftest import Api, make_settings

FILE = 7
_FETCH = re.compile(r"(\d+):(\d+)")


class FakeDecoder:
    """The decoder side: stored passings of one file, pull replies, push once enabled."""

    def __init__(self, box_name: str = "FINISH", box_id: str = "D-5051") -> None:
        self.box_name, self.box_id = box_name, box_id
        self.records: list[str] = []
        self.received: list[str] = []
        self.connections = 0
        self.cut_fetch_after: int | None = None  # next fetch: send this many records, then hang up
        self._writers: dict[asyncio.StreamWriter, bool] = {}  # writer -> push enabled
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop()
        for task in list(self._handlers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    def drop(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    @property
    def connected(self) -> int:
        return len(self._writers)

    def pass_tag(self, bib: int, when: str, date: str = "0000-00-00") -> None:
        """A runner crosses the mat: store the passing, push it to clients in push mode."""
        no = len(self.records) + 1
        fields = [str(no), str(bib), date, when, "6692", "12", "-68", "09ca52", "0", "", "1", "0"]
        record = ";".join([*fields, "", "", "", "", self.box_name, str(FILE), "", self.box_id])
        self.records.append(record)
        for writer, push in self._writers.items():
            if push:
                writer.write(f"#P;{record}\r\n".encode())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        self._writers[writer] = False
        try:
            while line := await reader.readline():
                command = line.decode("latin-1").strip()
                self.received.append(command)
                reply = self._answer(command, writer)
                if reply is None:
                    return
                writer.write(reply.encode("latin-1"))
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.pop(writer, None)
            writer.close()
            self._handlers.discard(task)

    def _answer(self, command: str, writer: asyncio.StreamWriter) -> str | None:
        name = command.split(";")[0]
        if m := _FETCH.fullmatch(command):
            first, count = int(m[1]), int(m[2])
            chunk = self.records[first - 1 : first - 1 + count]
            if self.cut_fetch_after is not None:
                cut, self.cut_fetch_after = self.cut_fetch_after, None
                writer.write("".join(r + "\r\n" for r in chunk[:cut]).encode())
                return None  # hang up mid-reply
            return "".join(r + "\r\n" for r in chunk) + "\r\n"
        if name == "SETPUSHPASSINGS":
            self._writers[writer] = True
            return "SETPUSHPASSINGS;OK\r\n"
        now = time.strftime("%H:%M:%S")
        answers = {
            "SETPROTOCOL": "SETPROTOCOL;2.0",
            "GETCONFIG": f"GETCONFIG;GENERAL;BOXNAME;{self.box_name};{self.box_id}",
            "GETSTATUS": f"GETSTATUS;0000-00-00;{now}.000;1;1;1;{FILE};0",
            "GETTIME": f"GETTIME;0000-00-00;{now}.000",
            "PASSINGS": f"PASSINGS;{len(self.records)};{FILE}",
            "PING": "PING;OK",
        }
        return answers.get(name, f"{name};ERROR") + "\r\n"


@pytest.fixture
async def decoder() -> AsyncIterator[tuple[FakeDecoder, int]]:
    fake = FakeDecoder()
    port = await fake.start()
    try:
        yield fake, port
    finally:
        await fake.close()


async def start_rc(data_dir: Path, port: int) -> RaceControl:
    rc = RaceControl(make_settings(data_dir, decoders=(f"127.0.0.1:{port}",)))
    await rc.start()
    return rc


async def eventually(check: Any, timeout: float = 4.0) -> Any:
    """Poll an async check until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            assert result, "condition not reached in time"
            return result
        await asyncio.sleep(0.02)


async def stored(rc: RaceControl) -> list[tuple[str, int, str]]:
    assert rc.services is not None
    await rc.services.pipeline.drain()

    def query(conn: Connection) -> list[tuple[str, int, str]]:
        t = Read.__table__
        rows = conn.execute(select(t.c.location, t.c.seq, t.c.tag).order_by(t.c.seq))
        return [(r[0], r[1], r[2]) for r in rows]

    return await rc.services.store.run(query)


async def clocks_of(rc: RaceControl) -> list[float]:
    assert rc.services is not None
    await rc.services.pipeline.drain()

    def query(conn: Connection) -> list[float]:
        t = Read.__table__
        return [r[0] for r in conn.execute(select(t.c.clock).order_by(t.c.seq))]

    return await rc.services.store.run(query)


def expected(first: int, last: int) -> list[tuple[str, int, str]]:
    return [("FINISH", encode_seq(FILE, n), str(100 + n)) for n in range(first, last + 1)]


def cross(fake: FakeDecoder, first: int, last: int) -> None:
    for n in range(first, last + 1):
        fake.pass_tag(100 + n, f"09:{n // 60:02d}:{n % 60:02d}.{n:03d}")


async def test_passings_arrive_as_reads(tmp_path: Path, decoder: tuple[FakeDecoder, int]) -> None:
    fake, port = decoder
    cross(fake, 1, 3)  # stored on the decoder before we connect
    rc = await start_rc(tmp_path / "data", port)
    try:
        assert rc.services is not None
        async with aiohttp.ClientSession() as http:
            api = Api(http, rc.http_url, rc.services.api_token)

            async def stream_with(n: int) -> dict[str, Any] | None:
                await rc.services.pipeline.drain()  # type: ignore[union-attr]
                streams = await api.ok("GET", "/api/timing/sessions")
                return next((s for s in streams if s["reads"] == n), None)

            await eventually(lambda: stream_with(3))
            await eventually(lambda: asyncio.sleep(0, "SETPUSHPASSINGS;1;0" in fake.received))
            cross(fake, 4, 5)  # live: pushed
            s = await eventually(lambda: stream_with(5))
            # the operator moves the event date back a day: a GPS-dated passing is read on that axis
            day = dt.date.fromisoformat(s["reference_date"])
            await api.ok(
                "PATCH", f"/api/timing/sessions/{s['id']}", {"reference_date": str(day - dt.timedelta(1))}
            )
            fake.pass_tag(106, "09:00:06.006", day.isoformat())
            await eventually(lambda: stream_with(6))
        clocks = await clocks_of(rc)
        assert clocks[4] == pytest.approx(9 * 3600 + 5.005)
        assert clocks[5] == pytest.approx(86400 + 9 * 3600 + 6.006)
        assert s["protocol"] == "raceresult" and s["source_key"] == "raceresult:D-5051"
        assert s["connected"] and s["locations"] == ["FINISH"]
        assert s["cursors"] == {"FINISH": encode_seq(FILE, 5)}
        assert await stored(rc) == expected(1, 6)
        assert fake.received[:5] == [
            "SETPROTOCOL;2.0",
            "GETCONFIG;GENERAL;BOXNAME",
            "GETSTATUS",
            "GETTIME",
            "PASSINGS",
        ]
        assert "1:3" in fake.received and "STARTOPERATION" not in fake.received
        (connector,) = rc.decoders
        status = connector.status
        assert status["connected"] and status["live"] and status["last_passing"] == 6
        assert abs(status["clock_offset"]) < 3 * 3600 * 24
    finally:
        await rc.stop()
    assert fake.connected == 0  # stop() hung up


async def test_drop_mid_fetch_loses_and_doubles_nothing(
    tmp_path: Path, decoder: tuple[FakeDecoder, int]
) -> None:
    fake, port = decoder
    cross(fake, 1, 10)
    fake.cut_fetch_after = 4  # the first fetch reply breaks off after 4 records
    rc = await start_rc(tmp_path / "data", port)
    try:

        async def caught_up(n: int) -> bool:
            return len(await stored(rc)) == n and "SETPUSHPASSINGS;1;0" in fake.received

        await eventually(lambda: caught_up(10))
        assert fake.connections == 2
        assert fake.received.count("1:10") == 1 and "5:6" in fake.received  # resumed after the 4 stored
        cross(fake, 11, 12)  # live
        await eventually(lambda: caught_up(12))
        fake.drop()  # the link breaks while the race goes on
        cross(fake, 13, 17)
        await eventually(lambda: caught_up(17))
        assert fake.connections == 3 and "13:5" in fake.received
        assert await stored(rc) == expected(1, 17)
    finally:
        await rc.stop()

    # a restart resumes from the store: only what is new is fetched
    cross(fake, 18, 19)
    rc = await start_rc(tmp_path / "data", port)
    try:
        await eventually(lambda: caught_up_again(rc, fake))
        assert await stored(rc) == expected(1, 19)
        assert fake.received[-2:] == ["18:2", "SETPUSHPASSINGS;1;0"]
    finally:
        await rc.stop()


async def caught_up_again(rc: RaceControl, fake: FakeDecoder) -> bool:
    return len(await stored(rc)) == 19 and fake.received[-1] == "SETPUSHPASSINGS;1;0"


async def test_bound_display_session_receives_finishers(
    tmp_path: Path, decoder: tuple[FakeDecoder, int]
) -> None:
    fake, port = decoder
    rc = await start_rc(tmp_path / "data", port)
    try:
        assert rc.services is not None
        async with aiohttp.ClientSession() as http:
            api = Api(http, rc.http_url, rc.services.api_token)
            event = await api.ok("POST", "/api/events", {"name": "RR 5K", "date": "2026-06-01"}, 201)
            await api.ok(
                "POST",
                f"/api/events/{event['id']}/participants",
                [{"bib": str(b), "first_name": f"Runner{b}", "last_name": "R"} for b in range(101, 121)],
            )
            session = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201)
            streams = await eventually(lambda: api.ok("GET", "/api/timing/sessions"))
            await api.ok(
                "POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": streams[0]["id"]}
            )
            await eventually(lambda: asyncio.sleep(0, "SETPUSHPASSINGS;1;0" in fake.received))
            ws_url = session["display_url"].replace("http", "ws") + "/ws"
            async with http.ws_connect(ws_url) as ws:
                assert (await ws.receive_json(timeout=5))["type"] == "hello"
                cross(fake, 1, 3)
                got: list[dict[str, Any]] = []
                while len(got) < 3:
                    msg = await ws.receive_json(timeout=5)
                    if msg["type"] == "finisher":
                        got.append(msg)
        assert [(m["bib"], m["name"]) for m in got] == [
            ("101", "Runner101 R"),
            ("102", "Runner102 R"),
            ("103", "Runner103 R"),
        ]
        assert all(m["location"] == "FINISH" for m in got)
        assert [decode_seq(seq) for _, seq, _ in await stored(rc)] == [(FILE, 1), (FILE, 2), (FILE, 3)]
    finally:
        await rc.stop()
