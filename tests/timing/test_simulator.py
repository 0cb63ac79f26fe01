"""The simulator against a real TCP server on 127.0.0.1 (a small hand-written CTP01 server below)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import socket
import time
from pathlib import Path

import pytest

from race_control.timing.simulator.cli import add_simulate_arguments, run_simulate_command
from race_control.timing.simulator.playback import SimulationResult, simulate
from race_control.timing.simulator.sources import (
    SimSource,
    SimulationError,
    load_play_items,
    parse_source_arg,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "chronotrack-2021"


class FakeCtp01Server:
    """Just enough of a CTP01 server: push settings, getlocations, start per location, resume by seq.

    ``close_after`` drops the first connection after that many data lines (the rest of
    what was sent is discarded unread), and on reconnect it asks ``start~<loc>~<last+1>``.
    """

    def __init__(self, *settings: str, close_after: int | None = None, password: str | None = None) -> None:
        self.settings = settings or ("stream-mode=push", "guntimes=true", "newlocations=true")
        self.close_after = close_after
        self.password = password
        self.received: list[str] = []
        self.last_seq: dict[str, int] = {}
        self.greetings: list[str] = []
        self.connections = 0
        self.pings = 0

    async def __aenter__(self) -> FakeCtp01Server:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        first = self.connections == 1
        started: set[str] = set()

        def send(*lines: str) -> None:
            writer.write("".join(f"{line}\r\n" for line in lines).encode())

        def start(loc: str) -> None:
            if loc not in started:
                started.add(loc)
                last = self.last_seq.get(loc)
                send(f"start~{loc}~{last + 1}" if last else f"start~{loc}")

        try:
            self.greetings.append((await reader.readline()).decode().strip())
            auth = ["authentication=plaintext"] if self.password else []
            send(f"Fake~1.0~{len(self.settings) + len(auth)}", *self.settings, *auth)
            if self.password:
                if (await reader.readline()).decode().strip() != f"authorize~timer~{self.password}":
                    send("err~authorize~bad password")
                    return
                send("ack~authorize")
            send("geteventinfo", "getlocations")
            while line := (await reader.readline()).decode().strip():
                f = line.split("~")
                if f[0] == "ack" and f[1] == "getlocations":
                    for loc in f[2:]:
                        start(loc)
                elif f[0] == "CT01_33" and f[3] == "newlocation":
                    start(f[2])
                elif f[0] == "CT01_33":
                    self.received.append(line)
                    self.last_seq[f[2]] = int(f[1])
                    if first and self.close_after and len(self.received) == self.close_after:
                        return
                elif line == "ping":
                    self.pings += 1
                    send("ack~ping")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def by_location(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for line in self.received:
            out.setdefault(line.split("~")[2], []).append(line)
        return out


def expected_lines(csv: Path, location: str) -> list[str]:
    """What SimpleClient would send for a TO~ file, computed straight from the text (not our parser)."""
    rows = [line.split("~") for line in csv.read_text().splitlines() if line]
    rows.sort(key=lambda r: int(r[5].replace(".", "")))  # stable: equal times keep file order
    seen: dict[str, int] = {}
    out = []
    for seq, r in enumerate(rows, start=1):
        whole, frac = r[5].split(".")
        t = time.gmtime(int(whole))
        tag = r[2].lstrip("0") or "0"
        seen[tag] = seen.get(tag, 0) + 1
        out.append(
            f"CT01_33~{seq}~{location}~{tag}~{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{frac}"
            f"~{seen[tag]}~{r[6]}~{int(r[7])}"
        )
    return out


@pytest.fixture
def race(tmp_path: Path) -> list[Path]:
    start = tmp_path / "START"
    finish = tmp_path / "FINISH"
    start.mkdir()
    finish.mkdir()
    (start / "1.csv").write_text(
        "TO~1~101~160~18~1620460855.40~12000C~8~-60~1~P~10\r\n"
        "TO~2~102~160~18~1620460855.90~12000C~2~-61~2~P~11\r\n"
        "TO~3~101~160~18~1620460856.20~120044~1~-62~1~P\r\n"
    )
    (start / "1.mrk").write_text("I11A9D,32,Gun,1,21050808005516,Button Press\r\n")
    (finish / "2.csv").write_text(
        "TO~000001~000101~160~018~1620464455.00~104484~8~-71~00001~P~10\r\n"
        "TO~2~102~160~18~broken~104484~8~-71~2~P~10\r\n"
        "TO~3~102~160~18~1620464456.25~104484~4~-70~3~P~12\r\n"
    )
    stream = tmp_path / "relay.ctp"
    stream.write_text(
        "2021-05-08 08:30:00 < SimpleClient~1.2.3~CTP01\n"
        "2021-05-08 08:30:01 < CT01_33~7~anything~555~08:30:10.00~0~ABCDEF~1\n"
        "2021-05-08 08:30:02 < CT01_33~8~anything~556~bad-time~0~ABCDEF~1\n"
    )
    return [start, finish, stream]


async def test_reads_arrive_exactly_and_in_order(race: list[Path]) -> None:
    async with FakeCtp01Server() as srv:
        result = await simulate(
            "127.0.0.1", srv.port, [race[0], race[1], SimSource(race[2], "30K")], speed=0, linger=2.0
        )
    assert srv.greetings == ["SimpleClient~1.2.3~CTP01"]
    assert srv.by_location() == {
        "START": [
            "CT01_33~1~START~guntime~08:00:55.16~0~I11A9D~0",
            "CT01_33~2~START~101~08:00:55.40~1~12000C~8",
            "CT01_33~3~START~102~08:00:55.90~1~12000C~2",
            "CT01_33~4~START~101~08:00:56.20~2~120044~1",
        ],
        "30K": ["CT01_33~1~30K~555~08:30:10.00~1~ABCDEF~1"],
        "FINISH": [
            "CT01_33~1~FINISH~101~09:00:55.00~1~104484~8",
            "CT01_33~2~FINISH~102~09:00:56.25~1~104484~4",
        ],
    }
    assert (result.reads, result.guns, result.sent, result.delivered, result.undelivered) == (6, 1, 7, 7, 0)
    assert [(e.line_no, Path(e.path).name) for e in result.bad_rows] == [(2, "2.csv"), (3, "relay.ctp")]
    assert result.locations == ("START", "30K", "FINISH")
    assert result.connections == 1
    assert srv.pings == 1  # the final ping that proves delivery


async def test_paced_playback_keeps_global_time_order(race: list[Path]) -> None:
    async with FakeCtp01Server() as srv:
        # real time (speed 1): every gap is capped to max_gap, so the hour between the last start
        # read and the first finish read takes 0.15 s; uncapped, it would outlast the wait_for.
        # (How long playback takes is a benchmark figure, not asserted here.)
        await asyncio.wait_for(simulate("127.0.0.1", srv.port, race[:2], speed=1, max_gap=0.15), 60)
    assert [line.split("~")[4] for line in srv.received] == [
        "08:00:55.16",
        "08:00:55.40",
        "08:00:55.90",
        "08:00:56.20",
        "09:00:55.00",
        "09:00:56.25",
    ]


async def test_paced_playback_holds_later_reads_back(race: list[Path]) -> None:
    """Pacing really waits: with the hour to the finish reads capped to 10 minutes, the start
    reads arrive and the finish reads do not, until the run is stopped."""
    stop = asyncio.Event()
    async with FakeCtp01Server() as srv:
        run = asyncio.create_task(
            simulate("127.0.0.1", srv.port, race[:2], speed=1, max_gap=600, stop_event=stop)
        )
        async with asyncio.timeout(30):
            while len(srv.received) < 4:  # the gun and three start reads, 1 s of race time
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # anything sent with them (no pacing) would have arrived too
        assert [line.split("~")[2] for line in srv.received] == ["START"] * 4
        stop.set()
        result = await asyncio.wait_for(run, 30)
    assert result.stopped and result.reads == 3 and result.guns == 1


async def test_real_controllers_replayed_exactly() -> None:
    async with FakeCtp01Server() as srv:
        result = await simulate("127.0.0.1", srv.port, [DATA / "9K", DATA / "19K"], speed=0)
    assert srv.by_location() == {
        "9K": expected_lines(DATA / "9K" / "5071949.csv", "9K"),
        "19K": expected_lines(DATA / "19K" / "5072019.csv", "19K"),
    }
    assert (result.reads, result.guns, result.sent, result.undelivered) == (849 + 918, 0, 849 + 918, 0)


async def test_reconnect_in_the_middle_loses_and_doubles_nothing() -> None:
    async with FakeCtp01Server(close_after=300) as srv:
        result = await simulate("127.0.0.1", srv.port, [DATA / "9K"], speed=0, backoff=0.05)
    assert srv.connections == 2
    assert srv.received == expected_lines(DATA / "9K" / "5071949.csv", "9K")
    assert result.connections == 2
    assert result.delivered == 849
    assert result.undelivered == 0
    assert result.sent >= 849  # lines written into the dropped socket count too


async def test_gun_times_hidden_when_server_does_not_ask(race: list[Path]) -> None:
    async with FakeCtp01Server("stream-mode=push", "newlocations=true", "time-format=iso") as srv:
        result = await simulate("127.0.0.1", srv.port, [race[0]], speed=0)
    assert srv.received == [
        "CT01_33~2~START~101~2021-05-08T08:00:55.40~1~12000C~8",
        "CT01_33~3~START~102~2021-05-08T08:00:55.90~1~12000C~2",
        "CT01_33~4~START~101~2021-05-08T08:00:56.20~2~120044~1",
    ]
    assert result.undelivered == 0


async def test_authentication_and_location_override(race: list[Path]) -> None:
    async with FakeCtp01Server(password="pw") as srv:
        await simulate("127.0.0.1", srv.port, [f"FIN={race[1]}"], speed=0, user="timer", password="pw")
        assert [line.split("~")[2] for line in srv.received] == ["FIN", "FIN"]
        with pytest.raises(SimulationError, match="rejected"):
            await simulate("127.0.0.1", srv.port, [race[1]], speed=0, user="timer", password="nope")


async def test_stop_event_ends_the_run(race: list[Path]) -> None:
    stop = asyncio.Event()

    def progress(r: SimulationResult) -> None:
        if r.reads + r.guns >= 2:
            stop.set()

    async with FakeCtp01Server() as srv:
        result = await simulate(
            "127.0.0.1", srv.port, race[:2], speed=1.0, stop_event=stop, on_progress=progress
        )
    assert result.stopped
    assert result.reads + result.guns == 2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_errors_missing_file_and_refused(tmp_path: Path) -> None:
    with pytest.raises(SimulationError, match="no such file"):
        await simulate("127.0.0.1", 1, [tmp_path / "nope"], speed=0)
    with pytest.raises(SimulationError, match="cannot connect"):
        await simulate("127.0.0.1", _closed_port(), [DATA / "9K"], speed=0)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="race-control simulate")
    add_simulate_arguments(parser)
    return parser.parse_args(argv)


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse("--port", "1", str(tmp_path / "missing.csv"))
    assert run_simulate_command(args) == 2
    assert "no such file" in capsys.readouterr().err
    args = _parse("--port", str(_closed_port()), "--speed", "0", str(DATA / "9K"))
    assert run_simulate_command(args) == 2
    assert "cannot connect to 127.0.0.1" in capsys.readouterr().err
    args = _parse("--speed", "2", "--tz", "America/Chicago", "--time-format", "iso", "X=a", "b")
    assert (args.speed, args.tz, args.time_format, args.port) == (2.0, "America/Chicago", "iso", 61611)


def test_parse_source_arg(tmp_path: Path) -> None:
    assert parse_source_arg("FINISH=/data/F1") == SimSource(Path("/data/F1"), "FINISH")
    odd = tmp_path / "a=b"
    odd.mkdir()
    assert parse_source_arg(str(odd)) == SimSource(odd)


def test_a_recording_run_across_midnight_plays_in_its_order(tmp_path: Path) -> None:
    """``simulate FILE.ctp`` of a New Year's Eve race: 00:01 after 23:59 is the next day's, so
    the reads keep the file's order (sorted by time, 00:01 would have gone first)."""
    path = tmp_path / "nye.ctp"
    path.write_text(
        "CT01_33~1~start~guntime~23:30:00.00~0~0FA22E~1\n"
        "CT01_33~1~finish~7~23:59:10.00~1~0FA22E~1\n"
        "CT01_33~2~finish~8~00:01:05.00~1~0FA22E~1\n",
        "latin-1",
    )
    items, errors = load_play_items([path], tz="UTC")  # (the file's day: today)
    assert not errors and [it.tag for it in items] == ["guntime", "7", "8"]
    gun, first, second = (it.when for it in items)
    assert (first - gun, second - gun) == (
        dt.timedelta(minutes=29, seconds=10),
        dt.timedelta(minutes=31, seconds=5),
    )
    assert second.date() == gun.date() + dt.timedelta(days=1)
