"""RACE RESULT decoder protocol 2.0, client side, sans-IO.

Here *we* connect to the decoder (TCP 3601, docs/protocols/raceresult.md) and speak
first.  This module is only the state machine: it queues the handshake when
created, ``receive_data(bytes, now)`` returns events, ``data_to_send()`` the bytes
to write, ``tick(now)`` drives heartbeats, fetch timeouts and dead-link detection.
No sockets, no clock, no database.

Conversation::

    C: SETPROTOCOL;2.0 / GETCONFIG;GENERAL;BOXNAME / GETSTATUS
       [SETTIME;2026-06-01;09:00:00.000]  [STARTOPERATION]    (only when configured)
       GETTIME / PASSINGS
    D: PASSINGS;<count>;<file>            → ConnectionIdentified("raceresult:<BoxId or host:port>")
    caller: begin_streaming({location: last stored seq})
    C: 41:100   D: <passing records...> + empty line      (bounded batches up to <count>)
    C: SETPUSHPASSINGS;1;0   D: #P;<passing record>       (live, once caught up)
    C: PING + PASSINGS every ping_interval                (keep-alive and missed-push check)

Identity and sequence scheme (why it looks like this):

* ``location`` is the configured location, else the decoder's BoxName, else
  ``decoder``.  It must not change when the decoder starts a new file, because
  display rules are keyed by location.
* PassingNo restarts at 1 in every decoder file, so the file number goes into
  the sequence: ``seq = FileNumber * FILE_STRIDE + PassingNo`` (see
  ``raceresult_records``, which also parses the passing records and clocks).
* Reads are emitted strictly in PassingNo order per file (a pushed passing after
  a gap is dropped and the gap refetched, as metarace does).  So what is stored is
  always contiguous, and the *last stored* seq -- the only cursor the service keeps
  -- is an exact resume point after a drop or restart.

Known limits [Inf]: passings of an *older* file made while we were away cannot
be fetched (``<first>:<count>`` reads the current file); a decoder whose
numbering restarts without a new file number is reported as a ``BadLine``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

from race_control.timing.protocols.errors import TimingError, TimingInputError
from race_control.timing.protocols.events import ConnectionIdentified, GunTime, TagRead, TimingEvent
from race_control.timing.protocols.line_link import LineLink, load_zone
from race_control.timing.protocols.raceresult_passings import (
    MAX_FILE,
    TRIGGER_PREFIX,
    decode_seq,
    decoder_clock,
    encode_seq,
    number,
    parse_passing,
    pc_clock,
)

__all__ = [
    "DEFAULT_PORT",
    "RaceResultClient",
    "RaceResultConfig",
    "RaceResultConfigError",
    "RaceResultError",
    "RaceResultStateError",
]

DEFAULT_PORT = 3601
PROTOCOL_VERSION = "2.0"
_LOCATION_OK = re.compile(r"[^\x00-\x1f;~]{1,40}")
# Replies we expect and need nothing from beyond the echo itself
_QUIET = frozenset({"SETPROTOCOL", "GETPROTOCOL", "SETTIME", "SETPUSHPASSINGS", "PING", "STOPOPERATION"})


class RaceResultError(TimingError):
    """Root of this module's errors (caller mistakes only; decoder input never raises)."""


class RaceResultConfigError(RaceResultError, TimingInputError):
    """A configuration value is out of range (a ``ValueError`` too)."""


class RaceResultStateError(RaceResultError):
    """A method was called before the handshake allows it."""


@dataclass
class RaceResultConfig:
    """How we drive the decoder and interpret its passings."""

    location: str | None = None  # None: the decoder's BoxName, else "decoder"
    timezone: str = "UTC"
    reference_date: dt.date | None = None  # None: today (in ``timezone``) when the connection starts
    set_time: bool = False  # send SETTIME from the PC clock (changes the decoder's clock!)
    start_operation: bool = False  # send STARTOPERATION (a decoder in test mode stores nothing)
    fetch_batch: int = 100
    ping_interval: float = 10.0
    dead_after: float = 30.0
    handshake_timeout: float = 20.0
    fetch_timeout: float = 10.0

    def validate(self) -> None:
        if self.location is not None and not _LOCATION_OK.fullmatch(self.location):
            raise RaceResultConfigError(f"location {self.location!r} must be 1-40 printable characters")
        if not isinstance(self.fetch_batch, int) or not 1 <= self.fetch_batch <= 10_000:
            raise RaceResultConfigError("fetch_batch must be an int in 1..10000")
        for name in ("ping_interval", "dead_after", "handshake_timeout", "fetch_timeout"):
            if not getattr(self, name) > 0:
                raise RaceResultConfigError(f"{name} must be > 0")
        load_zone(self.timezone, RaceResultConfigError)


class RaceResultClient(LineLink):
    """One connection to one decoder.  Feed bytes in, write ``data_to_send()`` out."""

    _config_error = RaceResultConfigError

    def __init__(self, config: RaceResultConfig, *, address: str, now: float) -> None:
        config.validate()
        super().__init__()
        self.config = config
        self._tz = load_zone(config.timezone, RaceResultConfigError)
        self._reference_date = config.reference_date or dt.datetime.fromtimestamp(now, self._tz).date()
        self._address = address
        self._blank = True  # only \r / NUL seen since the last \n: a \n now ends an empty line
        self._phase = "handshake"  # handshake -> identified -> streaming -> closed
        self._created = self._last_rx = now
        self._location = config.location
        self._box_name = ""
        self._box_id = ""
        self._protocol = ""
        self._operation_mode: bool | None = None
        self._gettime: tuple[str, str, float] | None = None  # decoder date, time, PC epoch it was read
        self._gettime_sent = now
        self._file: int | None = None
        self._mark = 0  # highest PassingNo emitted (contiguous) in the current file
        self._marks: dict[int, int] = {}  # the same for files we have left
        self._target = 0  # highest PassingNo known to exist in the current file
        self._count: int | None = None
        self._cursor: tuple[int, int] | None = None  # (file, PassingNo) stored before we connected
        self._fetch: tuple[int, int, float] | None = None  # first, count, sent_at
        self._push = False
        self._next_ping = now + config.ping_interval
        self.fetch_timeouts = 0
        commands = ["SETPROTOCOL;" + PROTOCOL_VERSION, "GETCONFIG;GENERAL;BOXNAME", "GETSTATUS"]
        if config.set_time:
            wall = dt.datetime.fromtimestamp(now, self._tz)
            commands.append(f"SETTIME;{wall:%Y-%m-%d;%H:%M:%S}.{wall.microsecond // 1000:03d}")
        if config.start_operation:
            commands.append("STARTOPERATION")
        for line in [*commands, "GETTIME", "PASSINGS"]:
            self._send(line)

    # ------------------------------------------------------------------ read-only state
    @property
    def location(self) -> str | None:
        """Fixed when the connection is identified (configured, else BoxName, else ``decoder``)."""
        return self._location

    @property
    def reference_date(self) -> dt.date:
        return self._reference_date

    @property
    def clock_offset(self) -> float | None:
        """Decoder clock minus PC clock in seconds (from GETTIME, half the round trip allowed for).

        Without GPS and SETTIME the decoder counts from its own start, so a large
        offset is normal then; finish minus gun from the same decoder stays right.
        """
        if self._gettime is None:
            return None
        date_text, time_text, at = self._gettime
        clock = decoder_clock(date_text, time_text, self._reference_date)
        return None if clock is None else round(clock - pc_clock(at, self._tz, self._reference_date), 3)

    @property
    def live(self) -> bool:
        """Caught up with the decoder and in push mode."""
        return self._push and self._fetch is None and self._mark >= self._target

    def status(self) -> dict[str, object]:
        return {
            "phase": self._phase,
            "connection_id": self._connection_id,
            "location": self._location,
            "box_name": self._box_name,
            "box_id": self._box_id,
            "protocol": self._protocol,
            "operation_mode": self._operation_mode,
            "clock_offset": self.clock_offset,
            "file_number": self._file,
            "passings": self._count,
            "last_passing": self._mark,
            "live": self.live,
            "bad_lines": self._bad_lines,
            "fetch_timeouts": self.fetch_timeouts,
            "reference_date": self._reference_date.isoformat(),
        }

    # ------------------------------------------------------------------ public API
    def receive_data(self, data: bytes, now: float) -> list[TimingEvent]:
        """Consume bytes; each line yields ``RawLine`` first, then what it means.

        The empty line that ends a fetch reply carries nothing to store, so it ends
        the fetch without a ``RawLine``.  ``LineBuffer`` drops empty lines, so they
        are found here first: the bytes are fed up to each one, then it is handled.
        """
        events: list[TimingEvent] = []
        if self._phase == "closed" or not data:
            return events
        self._last_rx = now
        start = pos = 0
        while (nl := data.find(b"\n", pos)) != -1:
            blank = self._blank and not data[pos:nl].strip(b"\r\x00")
            self._blank = True
            pos = nl + 1
            if blank:
                self._feed(data[start:pos], now, events)
                start = pos
                if self._phase != "closed":
                    self._end_of_fetch(now)
        if data[pos:].strip(b"\r\x00"):
            self._blank = False
        self._feed(data[start:], now, events)
        return events

    def begin_streaming(self, cursors: Mapping[str, int]) -> None:
        """Resume after the last *stored* seq of our location, then go live.

        Call after ``ConnectionIdentified`` with the stream's stored cursors.
        """
        if self._phase == "closed":
            return
        if self._phase != "identified":
            raise RaceResultStateError("begin_streaming() before ConnectionIdentified (or twice)")
        seq = cursors.get(self._location or "", 0)
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise RaceResultError(f"cursor must be an int >= 0, got {seq!r}")
        self._cursor = decode_seq(seq) if seq else None
        self._phase = "streaming"
        self._mark = self._cursor[1] if self._cursor and self._cursor[0] == self._file else 0
        self._pump(self._last_rx)

    def tick(self, now: float) -> list[TimingEvent]:
        """Time-driven work: dead link, handshake timeout, heartbeat, fetch timeout."""
        events: list[TimingEvent] = []
        if self._phase == "closed":
            return events
        cfg = self.config
        handshaking = self._phase == "handshake"
        if self._timed_out(
            now, events, peer="decoder", handshaking=handshaking, handshake_step="no PASSINGS reply"
        ):
            return events
        if now >= self._next_ping:
            self._send("PING")
            if self._phase == "streaming":
                self._send("PASSINGS")  # a documented reply keeps the link busy and finds missed pushes
            self._next_ping = now + cfg.ping_interval
        if self._fetch is not None and now - self._fetch[2] >= cfg.fetch_timeout:
            self.fetch_timeouts += 1
            self._fetch = None
            self._pump(now)
        return events

    # ------------------------------------------------------------------ internals
    def _handle(self, line: str, now: float, events: list[TimingEvent]) -> None:
        fields = line.strip().split(";")
        head = fields[0].strip().upper()
        if head == "#P":
            self._on_passing(line, fields[1:], pushed=True, events=events, now=now)
        elif number(fields[0]) is not None:
            self._on_passing(line, fields, pushed=False, events=events, now=now)
        elif head == "PASSINGS":
            self._on_passings(line, fields, now, events)
        elif head == "GETTIME":
            clock = decoder_clock(fields[1], fields[2], self._reference_date) if len(fields) >= 3 else None
            if clock is None:
                self._bad(events, line, "GETTIME reply needs ;YYYY-MM-DD;HH:MM:SS.mmm")
            else:  # the decoder read its clock about halfway through our round trip
                self._gettime = (fields[1], fields[2], (self._gettime_sent + now) / 2)
        elif head == "GETCONFIG":
            if len(fields) >= 4 and fields[2].strip().upper() == "BOXNAME":
                self._box_name = fields[3].strip()
                self._box_id = fields[4].strip() if len(fields) >= 5 else ""
        elif head == "GETSTATUS":
            if len(fields) > 5:  # ;Date;Time;HasPower;Antennas;IsInOperationMode;FileNumber;...
                self._operation_mode = fields[5].strip() == "1"
        elif head == "STARTOPERATION":
            ok = len(fields) > 1 and fields[1].strip().upper() == "OK"
            self._operation_mode = ok or self._operation_mode
            if not ok:
                self._bad(events, line, "decoder refused STARTOPERATION")
        elif head in _QUIET or head.startswith("ONLY"):
            if head == "SETPROTOCOL" and len(fields) > 1:
                self._protocol = fields[1].strip()
        elif head.startswith("#"):
            self._bad(events, line, f"unsupported pushed message {head!r}")
        else:
            self._bad(events, line, "unknown line (not a passing record or a reply we sent for)")

    def _on_passings(self, line: str, fields: list[str], now: float, events: list[TimingEvent]) -> None:
        count = number(fields[1]) if len(fields) > 1 else None
        file = number(fields[2]) if len(fields) > 2 and fields[2].strip() else self._file or 0
        if count is None or file is None or file >= MAX_FILE:
            self._bad(events, line, "PASSINGS reply needs ;<count>[;<file number>]")
            return
        if file != self._file:
            self._switch_file(file)
        elif count < self._mark:
            self._bad(
                events,
                line,
                f"passing count fell to {count} below {self._mark} without a new file number; "
                "re-used PassingNos would be dropped as duplicates",
            )
        self._count = count
        self._target = max(self._target, count)
        if self._phase == "handshake":
            self._identify(events)
        self._pump(now)

    def _identify(self, events: list[TimingEvent]) -> None:
        self._phase = "identified"
        self._connection_id = f"raceresult:{self._box_id or self._address}"
        if self._location is None:
            name = self._box_name
            self._location = name if _LOCATION_OK.fullmatch(name) else "decoder"
        events.append(ConnectionIdentified(self._connection_id, from_client=bool(self._box_id)))

    def _switch_file(self, file: int) -> None:
        """Another decoder file: PassingNo restarts at 1 (resume if our cursor is in it, or we were)."""
        if self._file is not None:
            self._marks[self._file] = self._mark
            if len(self._marks) > 64:  # bounded: a real decoder changes file a few times a day
                del self._marks[next(iter(self._marks))]
        self._file = file
        self._target = 0
        cursor = self._cursor[1] if self._cursor and self._cursor[0] == file else 0
        self._mark = max(cursor, self._marks.pop(file, 0))

    def _on_passing(
        self, line: str, fields: list[str], *, pushed: bool, events: list[TimingEvent], now: float
    ) -> None:
        rec = parse_passing(fields, self._reference_date)
        if isinstance(rec, str):
            self._bad(events, line, rec)
            return
        file = rec.file if rec.file is not None else self._file or 0
        if file != self._file:
            self._switch_file(file)
        self._target = max(self._target, rec.no)
        if self._phase != "streaming" or rec.no <= self._mark:
            return  # before resume is known (fetched later) or already emitted
        if pushed and rec.no != self._mark + 1:
            self._pump(now)  # out of order: dropped and refetched, so what is stored stays contiguous
            return
        self._mark = rec.no
        seq = encode_seq(file, rec.no)
        loc = self._location or "decoder"
        reader = rec.box_id or rec.box_name
        text = rec.time if rec.date == "0000-00-00" else f"{rec.date} {rec.time}"
        if rec.tag.startswith(TRIGGER_PREFIX):
            events.append(GunTime(loc, seq, text, rec.clock, reader, line))
        else:
            events.append(TagRead(loc, seq, rec.tag, text, rec.clock, 0, reader, rec.loop, line))

    def _end_of_fetch(self, now: float) -> None:
        if self._fetch is not None:
            self._fetch = None
            self._pump(now)

    def _pump(self, now: float) -> None:
        """Fetch the next batch after the last emitted passing; go live once caught up."""
        if self._phase != "streaming" or self._fetch is not None:
            return
        if self._mark < self._target:
            count = min(self.config.fetch_batch, self._target - self._mark)
            self._fetch = (self._mark + 1, count, now)
            self._send(f"{self._mark + 1}:{count}")
        elif not self._push:
            self._push = True
            self._send("SETPUSHPASSINGS;1;0")
