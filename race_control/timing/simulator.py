"""Replay recorded timing data into a CTP01 server, as ChronoTrack SimpleClient would send it.

``race-control simulate`` is how the demo (and anyone without a ChronoTrack box)
feeds our server: it connects like SimpleClient, answers the server's commands
through the sans-IO ``Ctp01Client`` and plays reads in time order at N-times speed.

Sources are controller folders or ``.csv``/``.mrk`` files (location = folder name,
or ``LOCATION=path``) and recorded streams (``.ctp``: lines holding
``CT01_33~...``, e.g. the server's raw log).  Reads of all sources are merged by
time; ``.mrk`` ``Gun`` markers become ``guntime`` lines.  Times are rendered in
``tz``: the 2021 sample controllers keep *local wall-clock* time in their epoch
field (see ``controller_files``), so the default ``UTC`` reproduces the times the
timers saw (first gun 08:00:55.16).

Pacing follows the data's time gaps divided by ``speed`` (0 = as fast as
possible); a gap longer than ``max_gap`` wall seconds is shortened, so a folder
holding two sessions days apart does not stall the demo.  All observations go
into one ``ObservationLog`` that survives reconnects: when the server drops us we
reconnect with backoff and it resumes with ``start~<loc>~<seq>``, exactly as
with the real client.  The run ends when playback is over, the current
connection has delivered everything, and the server answered a final ``ping``
(proof it read the lines; if it does not answer within ``linger`` s we stop
anyway).  Nothing here knows about our own server: it is a plain CTP01 peer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from race_control.errors import InputError, RaceControlError
from race_control.timing.controller_files import (
    MAX_LAP,
    ControllerData,
    FileRowError,
    load_controller_dir,
    load_controller_file,
    marker_epoch,
)
from race_control.timing.ct_time import TimeFormatError, detect_time_format, parse_ct_time
from race_control.timing.ctp01_client import (
    ClientState,
    Ctp01Client,
    ObservationLog,
    check_location,
    check_observation,
    render_time,
)
from race_control.timing.events import AuthenticationFailed, LinkDead, PingAnswered

__all__ = [
    "DEFAULT_TZ",
    "SimSource",
    "SimulationError",
    "SimulationResult",
    "add_simulate_arguments",
    "load_play_items",
    "parse_source_arg",
    "run_simulate_command",
    "simulate",
]

DEFAULT_TZ = "UTC"  # the sample controllers' epoch already is local wall clock (see module doc)
DEFAULT_PORT = 61611
STREAM_SUFFIXES = (".ctp",)


class SimulationError(RaceControlError):
    """The run cannot go on: no server, rejected credentials, unreadable source."""


@dataclass(frozen=True, slots=True)
class SimSource:
    path: Path
    location: str | None = None


@dataclass(frozen=True, slots=True)
class PlayItem:
    when: dt.datetime  # naive local wall clock
    location: str
    tag: str  # "guntime" for a gun
    lap: int = 0
    reader_id: str = ""
    gator: int = 0

    @property
    def is_gun(self) -> bool:
        return self.tag == "guntime"


@dataclass(slots=True)
class SimulationResult:
    sent: int = 0  # data lines written, resends included
    delivered: int = 0  # distinct observations delivered at least once
    reads: int = 0  # tag observations played
    guns: int = 0
    total: int = 0  # items to play
    locations: tuple[str, ...] = ()
    connections: int = 0
    undelivered: int = 0
    bad_rows: list[FileRowError] = field(default_factory=list)
    elapsed: float = 0.0
    stopped: bool = False


def parse_source_arg(text: str) -> SimSource:
    """``path`` or ``LOCATION=path`` (an existing path containing ``=`` wins)."""
    if "=" in text and not Path(text).exists():
        loc, _, path = text.partition("=")
        if loc and "/" not in loc and os.sep not in loc:
            return SimSource(Path(path), loc)
    return SimSource(Path(text))


def _as_source(src: SimSource | Path | str) -> SimSource:
    return src if isinstance(src, SimSource) else parse_source_arg(str(src))


def _wall(epoch: float, zone: ZoneInfo) -> dt.datetime:
    secs, cs = divmod(round(epoch * 100), 100)
    moment = dt.datetime.fromtimestamp(secs, dt.UTC).astimezone(zone).replace(tzinfo=None)
    return moment + dt.timedelta(milliseconds=cs * 10)


def _controller_items(
    data: ControllerData, location: str, zone: ZoneInfo
) -> tuple[list[PlayItem], list[FileRowError]]:
    """A controller's reads and gun markers in time order (a gun first within the same hundredth)."""
    keyed: list[tuple[dt.datetime, int, int, PlayItem]] = []
    errors: list[FileRowError] = []
    for i, m in enumerate(data.markers):
        if m.is_gun:
            item = PlayItem(_wall(marker_epoch(m), zone), location, "guntime", 0, m.controller)
            keyed.append((item.when, 0, i, item))
    for i, r in enumerate(data.reads):
        item = PlayItem(_wall(r.epoch, zone), location, r.tag, 0, r.reader_mac, r.antenna)
        try:
            check_observation(item.location, item.tag, item.when, 0, item.reader_id, item.gator)
        except ValueError as exc:
            errors.append(FileRowError(r.path, r.line_no, f"cannot be sent as CT01_33: {exc}", r.line))
            continue
        keyed.append((item.when, 1, i, item))
    keyed.sort(key=lambda k: k[:3])
    return [k[3] for k in keyed], errors


def _stream_items(
    path: Path, location: str | None, zone: ZoneInfo, ref: dt.date
) -> tuple[list[PlayItem], list[FileRowError]]:
    try:
        text = path.read_bytes().decode("latin-1")
    except OSError as exc:
        raise SimulationError(f"cannot read {path}: {exc.strerror or exc}") from exc
    items: list[PlayItem] = []
    errors: list[FileRowError] = []
    midnight = dt.datetime.combine(ref, dt.time())
    for no, raw in enumerate(text.splitlines(), start=1):
        at = raw.find("CT01_33~")
        if at < 0:
            continue  # greetings, commands, acks of a raw log
        f = raw[at:].strip().split("~")
        try:
            if len(f) != 8:
                raise ValueError(f"expected 8 fields, got {len(f)}")
            if f[3] == "newlocation":
                continue
            fmt = detect_time_format(f[4])
            if fmt is None:
                raise ValueError(f"unrecognised time {f[4]!r}")
            clock = parse_ct_time(f[4], fmt, reference_date=ref, tz=zone)
            when = midnight + dt.timedelta(seconds=round(clock, 2))
            item = PlayItem(when, location or f[2], f[3], int(f[5] or 0), f[6], int(f[7] or 0))
            check_observation(item.location, item.tag, item.when, item.lap, item.reader_id, item.gator)
            items.append(item)
        except (ValueError, TimeFormatError) as exc:
            errors.append(FileRowError(str(path), no, str(exc), raw.strip()))
    items.sort(key=lambda it: it.when)
    return items, errors


def load_play_items(
    sources: Sequence[SimSource | Path | str], *, tz: str = DEFAULT_TZ, date: dt.date | None = None
) -> tuple[list[PlayItem], list[FileRowError]]:
    """All sources merged in time order (stable), with per-location lap = occurrence of the tag."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SimulationError(f"unknown time zone {tz!r}") from exc
    srcs = [_as_source(s) for s in sources]
    for s in srcs:
        if not s.path.exists():
            raise SimulationError(f"no such file or folder: {s.path}")
        if s.location is not None:
            try:
                check_location(s.location)
            except ValueError as exc:
                raise SimulationError(str(exc)) from exc
    per_source: list[list[PlayItem]] = []
    errors: list[FileRowError] = []
    streams: list[SimSource] = []
    for s in srcs:
        if s.path.is_file() and s.path.suffix.lower() in STREAM_SUFFIXES:
            streams.append(s)
            continue
        try:
            data = load_controller_dir(s.path) if s.path.is_dir() else load_controller_file(s.path)
        except InputError as exc:
            raise SimulationError(str(exc)) from exc
        location = s.location or (s.path if s.path.is_dir() else s.path.parent).resolve().name
        try:
            check_location(location)
        except ValueError as exc:
            raise SimulationError(f"{s.path}: {exc}; name it with LOCATION=path") from exc
        items, errs = _controller_items(data, location, zone)
        per_source.append(items)
        errors.extend(data.errors)
        errors.extend(errs)
    ref = date or min((it[0].when.date() for it in per_source if it), default=dt.date.today())
    for s in streams:
        items, errs = _stream_items(s.path, s.location, zone, ref)
        per_source.append(items)
        errors.extend(errs)
    merged = sorted((it for items in per_source for it in items), key=lambda it: it.when)
    if date is not None:
        merged = [it for it in merged if it.when.date() == date]
    laps: dict[tuple[str, str], int] = {}
    out: list[PlayItem] = []
    for it in merged:
        if not it.is_gun and not it.lap:
            key = (it.location, it.tag)
            laps[key] = laps.get(key, 0) + 1
            it = PlayItem(it.when, it.location, it.tag, min(laps[key], MAX_LAP), it.reader_id, it.gator)
        out.append(it)
    return out, errors


class _Runner:
    def __init__(
        self, host: str, port: int, items: list[PlayItem], opts: dict, result: SimulationResult
    ) -> None:
        self.host, self.port, self.items, self.o, self.result = host, port, items, opts, result
        self.log = ObservationLog()
        self.client: Ctp01Client | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.played = 0
        self.playback_done = not items
        self.current: dt.datetime | None = items[0].when if items else None
        self.wake = asyncio.Event()
        self.stop_event: asyncio.Event = opts["stop_event"] or asyncio.Event()
        self.best: dict[str, int] = {}
        self.sent_before = 0

    # --- playback -----------------------------------------------------------------------------

    async def playback(self) -> None:
        loop = asyncio.get_running_loop()
        speed, max_gap = self.o["speed"], self.o["max_gap"]
        fast_until: dt.time | None = self.o["fast_until"]
        start = loop.time()
        elapsed = 0.0
        prev = self.items[0].when if self.items else None
        for i, item in enumerate(self.items):
            if fast_until is not None and item.when.time() < fast_until:
                prev = item.when  # rehearsal fast-forward: everything before this time goes at once
            elif speed > 0 and prev is not None:
                gap = max((item.when - prev).total_seconds(), 0.0) / speed
                elapsed += gap if max_gap is None else min(gap, max_gap)
            prev = item.when
            delay = start + elapsed - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), delay)
            elif i % 256 == 0:
                await asyncio.sleep(0)  # let the connection read commands between bursts
            if self.stop_event.is_set():
                break
            self._play(item)
            if self.writer is not None and self.writer.transport.get_write_buffer_size() > 1 << 18:
                with contextlib.suppress(OSError):
                    await self.writer.drain()
        self.playback_done = True
        self.wake.set()

    def _play(self, item: PlayItem) -> None:
        self.current = item.when
        fmt = self.o["time_format"]
        t: str | dt.datetime = render_time(item.when, fmt) if fmt else item.when
        target = (
            self.client if self.client is not None and self.client.state is not ClientState.CLOSED else None
        )
        if target is None:
            self.log.add(item.location, item.tag, t, item.lap, item.reader_id, item.gator)
        elif item.is_gun:
            target.add_gun_time(item.location, t, item.reader_id)
        else:
            target.add_observation(item.location, item.tag, t, item.lap, item.reader_id, item.gator)
        self.played += 1
        if item.is_gun:
            self.result.guns += 1
        else:
            self.result.reads += 1
        self._flush()
        self._progress()
        self.wake.set()

    # --- connection ---------------------------------------------------------------------------

    def _flush(self) -> None:
        if self.client is None or self.writer is None:
            return
        data = self.client.data_to_send()
        self._account()
        if data and not self.writer.is_closing():
            with contextlib.suppress(OSError, RuntimeError):
                self.writer.write(data)

    def _account(self) -> None:
        c = self.client
        if c is None:
            return
        self.result.sent = self.sent_before + c.data_lines_sent
        for loc in self.log.locations:
            self.best[loc] = max(self.best.get(loc, 0), min(c.sent_through(loc), self.log.last_seq(loc)))
        self.result.delivered = sum(self.best.values())

    def _progress(self) -> None:
        if self.o["on_progress"] is not None:
            self.o["on_progress"](self.result)

    async def connections(self) -> None:
        failures = 0
        ever = False
        while True:
            if self.stop_event.is_set():
                self.result.stopped = True
                return
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.o["connect_timeout"]
                )
            except (OSError, TimeoutError) as exc:
                failures += 1
                if not ever or failures > self.o["max_retries"]:
                    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "timed out"
                    raise SimulationError(f"cannot connect to {self.host}:{self.port}: {reason}") from exc
                await self._backoff(failures)
                continue
            ever = True
            self.result.connections += 1
            try:
                finished, ready = await self._session(reader, writer)
            finally:
                await self._close(writer)
            if finished:
                return
            failures = 0 if ready else failures + 1
            if failures > self.o["max_retries"]:
                raise SimulationError(f"{self.host}:{self.port} keeps dropping the connection")
            await self._backoff(max(failures, 1))

    async def _backoff(self, failures: int) -> None:
        delay = min(self.o["backoff"] * 2 ** (failures - 1), self.o["backoff_max"])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_event.wait(), delay)

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        self._account()
        if self.client is not None:
            self.sent_before += self.client.data_lines_sent
        self.client = self.writer = None
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[bool, bool]:
        """One connection; returns (run finished, handshake completed)."""
        loop = asyncio.get_running_loop()
        o = self.o
        client = Ctp01Client(
            o["program"],
            o["version"],
            event_name=o["event_name"],
            event_id=o["event_id"],
            description=o["description"],
            connection_id=o["connection_id"],
            user=o["user"],
            password=o["password"],
            log=self.log,
            connected_at=self.current,
        )
        self.client, self.writer = client, writer
        client.initiate()
        self._flush()
        ping_deadline: float | None = None
        drain_deadline: float | None = None
        read_task: asyncio.Task[bytes] = asyncio.ensure_future(reader.read(65536))
        try:
            while True:
                now = loop.time()
                if self.stop_event.is_set():
                    self.result.stopped = True
                    return True, True
                if self.playback_done and ping_deadline is None:
                    drain_deadline = drain_deadline or now + o["drain_timeout"]
                    if client.caught_up() or now >= drain_deadline:
                        if client.state is not ClientState.READY:
                            return True, False  # never got through the handshake: give up
                        client.send_ping(now)  # its ack proves the server has read every line
                        self._flush()
                        ping_deadline = now + o["linger"]
                if ping_deadline is not None and now >= ping_deadline:
                    return True, True
                self.wake.clear()
                wake_task = asyncio.ensure_future(self.wake.wait())
                timeout = min(d for d in (ping_deadline, drain_deadline, now + 1.0) if d is not None) - now
                await asyncio.wait(
                    {read_task, wake_task}, timeout=max(timeout, 0), return_when=asyncio.FIRST_COMPLETED
                )
                wake_task.cancel()
                if not read_task.done():
                    continue
                try:
                    data = read_task.result()
                except OSError:
                    data = b""
                if not data:
                    return False, client.state is ClientState.READY
                read_task = asyncio.ensure_future(reader.read(65536))
                for ev in client.receive_data(data, loop.time()):
                    if isinstance(ev, AuthenticationFailed):
                        raise SimulationError(f"server rejected user {ev.user!r}: {ev.reason}")
                    if isinstance(ev, LinkDead):
                        self._flush()
                        return False, False
                    if isinstance(ev, PingAnswered) and ping_deadline is not None:
                        self._flush()
                        return True, True
                self._flush()
        finally:
            read_task.cancel()

    async def run(self) -> None:
        play = asyncio.ensure_future(self.playback())
        try:
            await self.connections()
        finally:
            play.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await play
            self._account()
            self.result.undelivered = len(self.log) - self.result.delivered


async def simulate(
    host: str,
    port: int,
    sources: Sequence[SimSource | Path | str],
    *,
    speed: float = 1.0,
    tz: str = DEFAULT_TZ,
    time_format: str | None = None,
    date: dt.date | None = None,
    max_gap: float | None = 30.0,
    fast_until: dt.time | None = None,
    program: str = "SimpleClient",
    version: str = "1.2.3",
    event_name: str = "Race Control demo",
    event_id: str = "1",
    description: str = "Replayed ChronoTrack data",
    connection_id: str = "race-control-simulator",
    user: str | None = None,
    password: str | None = None,
    connect_timeout: float = 5.0,
    max_retries: int = 20,
    backoff: float = 0.2,
    backoff_max: float = 5.0,
    drain_timeout: float = 10.0,
    linger: float = 2.0,
    stop_event: asyncio.Event | None = None,
    on_progress: Callable[[SimulationResult], None] | None = None,
) -> SimulationResult:
    """Play ``sources`` into the CTP01 server at ``host:port``; see the module doc.

    Raises ``SimulationError`` for a missing/unreadable source, a server that
    cannot be reached on the first try (later drops are retried ``max_retries``
    times with exponential backoff) or rejected credentials.
    """
    if speed < 0:
        raise SimulationError("speed must be >= 0")
    if time_format not in (None, "normal", "iso", "unix", "msecs"):
        raise SimulationError(f"unknown time format {time_format!r}")
    started = time.monotonic()
    items, errors = load_play_items(sources, tz=tz, date=date)
    result = SimulationResult(total=len(items), bad_rows=errors)
    result.locations = tuple(dict.fromkeys(it.location for it in items))
    opts = dict(locals())  # every keyword option, by name, for the runner
    runner = _Runner(host, port, items, opts, result)
    try:
        await runner.run()
    finally:
        result.elapsed = time.monotonic() - started
    return result


# --- CLI ------------------------------------------------------------------------------------------


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``race-control simulate``."""
    parser.add_argument(
        "sources", nargs="+", metavar="FILE", help="controller folder, .csv/.mrk, .ctp; LOC=path"
    )
    parser.add_argument("--host", default="127.0.0.1", help="CTP01 server host (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"CTP01 server port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="replay speed factor; 0 = as fast as possible"
    )
    parser.add_argument(
        "--tz", default=DEFAULT_TZ, help="zone to render controller epochs in (default UTC = as recorded)"
    )
    parser.add_argument(
        "--time-format",
        choices=("normal", "iso", "unix", "msecs"),
        default=None,
        help="force a time format (default: what the server requests)",
    )
    parser.add_argument(
        "--date", type=dt.date.fromisoformat, default=None, help="only play reads of this day (YYYY-MM-DD)"
    )
    parser.add_argument(
        "--max-gap", type=float, default=30.0, help="longest pause in wall seconds (default 30)"
    )
    parser.add_argument(
        "--fast-until",
        type=dt.time.fromisoformat,
        default=None,
        metavar="HH:MM:SS",
        help="send every read recorded before this time of day at once, then pace the rest",
    )
    parser.add_argument("--program", default="SimpleClient", help="client program name in the greeting")
    parser.add_argument("--program-version", default="1.2.3", help="client version in the greeting")
    parser.add_argument("--event-name", default="Race Control demo")
    parser.add_argument("--event-id", default="1")
    parser.add_argument("--connection-id", default="race-control-simulator")
    parser.add_argument("--user", default=None)
    parser.add_argument(
        "--password",
        default=os.environ.get("RACE_CONTROL_CTP01_PASSWORD"),
        help="password (default: $RACE_CONTROL_CTP01_PASSWORD)",
    )


def run_simulate_command(args: argparse.Namespace) -> int:
    """Run ``simulate`` from parsed arguments; 0 = done, 2 = bad input or no server, 130 = interrupted."""
    sources = [parse_source_arg(s) for s in args.sources]
    for s in sources:
        if not s.path.exists():
            print(f"race-control simulate: error: no such file or folder: {s.path}", file=sys.stderr)
            return 2
    try:
        result = asyncio.run(
            simulate(
                args.host,
                args.port,
                sources,
                speed=args.speed,
                tz=args.tz,
                time_format=args.time_format,
                date=args.date,
                max_gap=args.max_gap,
                fast_until=args.fast_until,
                program=args.program,
                version=args.program_version,
                event_name=args.event_name,
                event_id=args.event_id,
                connection_id=args.connection_id,
                user=args.user,
                password=args.password,
            )
        )
    except SimulationError as exc:
        print(f"race-control simulate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("race-control simulate: interrupted", file=sys.stderr)
        return 130
    print(
        f"simulate: sent {result.reads} reads and {result.guns} gun times from {len(sources)} source(s) "
        f"({', '.join(result.locations) or 'no locations'}) to {args.host}:{args.port} "
        f"in {result.elapsed:.1f} s; "
        f"{result.sent} lines written, {result.connections} connection(s), {result.undelivered} undelivered, "
        f"{len(result.bad_rows)} bad rows"
    )
    return 0
