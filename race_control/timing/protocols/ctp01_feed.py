"""What one CTP01 client connection delivers from its ``ObservationLog``, and the commands that steer it.

The replay client (``ctp01_client.Ctp01Client``) is two things: a conversation
(greeting, settings, authentication, pings) and a data feed.  This is the feed:
push mode sends each started location from its cursor as observations arrive,
pull mode answers ``getdata`` with the oldest due observations across locations,
and ``newlocation`` lines announce locations when the server asked for them.
The cursors are per connection, the log is not: a reconnect resumes from
whatever sequence the server names.  Like a real client it never sends a line
CTP01 does not define; refusals are ``err~<cmd>~...`` (see ``ctp01_client``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum

from race_control.timing.protocols.chronotrack_time import render_time
from race_control.timing.protocols.ctp01_lines import TAGEVENT_FORMAT, format_data_line
from race_control.timing.protocols.ctp01_observations import Observation, ObservationLog
from race_control.timing.protocols.ctp01_settings import DEFAULT_SETTINGS
from race_control.timing.protocols.events import BadLine

__all__ = ["ClientState", "Ctp01Feed", "DataRequested", "StartRequested", "StopRequested"]


class ClientState(Enum):
    NEW = "new"
    AWAIT_REPLY = "await-reply"
    AWAIT_SETTINGS = "await-settings"
    AWAIT_AUTH = "await-auth"
    READY = "ready"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class StartRequested:
    location: str | None
    seq: int | None
    started: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StopRequested:
    location: str | None


@dataclass(frozen=True, slots=True)
class DataRequested:
    max_items: int
    location: str | None
    seq: int | None
    sent: int


class Ctp01Feed:
    """The data side of one client connection: push/pull cursors over a shared log."""

    def __init__(self, log: ObservationLog | None, connected_at: dt.datetime | None) -> None:
        self.log = log if log is not None else ObservationLog()
        self.connected_at = connected_at
        self.state = ClientState.NEW
        self.settings: dict[str, str] = dict(DEFAULT_SETTINGS)
        self.started: dict[str, int] = {}  # push: location -> next sequence to send
        self.pull_cursor: dict[str, int] = {}
        # location -> highest seq the server has confirmed holding, on this connection: by a ping
        # round trip (``Ctp01Client.send_ping``) or its own start/getdata sequence number
        self.confirmed: dict[str, int] = {}
        self.data_lines_sent = 0
        self._out: list[str] = []
        self._announced: set[str] = set()
        self._id_asked = False  # with connection-id=true, newlocation lines wait for getconnectionid
        self._format = TAGEVENT_FORMAT

    # --- outbound -----------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        data = "".join(f"{line}\r\n" for line in self._out).encode("ascii", "replace")
        self._out.clear()
        return data

    def _send(self, line: str) -> None:
        self._out.append(line)

    @property
    def push(self) -> bool:
        return self.settings["stream-mode"] == "push"

    def _flag(self, key: str) -> bool:
        return self.settings.get(key) == "true"

    # --- observations -------------------------------------------------------------------------

    def add_observation(
        self,
        location: str,
        tag: str,
        time_text: str | dt.datetime,
        lap: int = 0,
        reader_id: str = "",
        gator: int = 0,
    ) -> Observation:
        """Append a read to the log (assigning its sequence) and push it if the location is started."""
        new = location not in self.log.locations
        obs = self.log.add(location, tag, time_text, lap, reader_id, gator)
        if new:
            self._announce_new_locations()
        self._pump()
        return obs

    def add_gun_time(self, location: str, time_text: str | dt.datetime, reader_id: str = "") -> Observation:
        """A gun press; numbered like a read, sent as a ``guntime`` line only when ``guntimes=true``."""
        return self.add_observation(location, "guntime", time_text, 0, reader_id, 0)

    def _visible(self, obs: Observation) -> bool:
        return not obs.is_gun or self._flag("guntimes")

    def _line(self, obs: Observation) -> str:
        t = obs.time if isinstance(obs.time, str) else render_time(obs.time, self.settings["time-format"])
        return format_data_line(
            self._format, obs.seq, obs.location, obs.tag, t, obs.lap, obs.reader_id, obs.gator
        )

    def _pump(self) -> None:
        """Send everything due on started locations (push mode only)."""
        if self.state is not ClientState.READY or not self.push:
            return
        for location, cursor in self.started.items():
            records = self.log.records(location, cursor)
            for obs in records:
                if self._visible(obs):
                    self._send(self._line(obs))
                    self.data_lines_sent += 1
            if records:
                self.started[location] = records[-1].seq + 1

    def _announce_new_locations(self) -> None:
        if self.state is not ClientState.READY or not self.push or not self._flag("newlocations"):
            return
        if self._flag("connection-id") and not self._id_asked:
            return
        for index, location in enumerate(self.log.locations, start=1):
            if location in self._announced:
                continue
            self._announced.add(location)
            first = self.log.records(location)[:1]
            when = first[0].time if first else self.connected_at
            if when is None:
                t = render_time(dt.datetime(2000, 1, 1), self.settings["time-format"])
            else:
                t = when if isinstance(when, str) else render_time(when, self.settings["time-format"])
            reader = first[0].reader_id if first else ""
            self._send(format_data_line(self._format, index, location, "newlocation", t, 0, reader, 0))

    def sent_through(self, location: str) -> int:
        """Highest sequence of ``location`` this connection has delivered (0 = none)."""
        cursor = self.started.get(location) if self.push else self.pull_cursor.get(location)
        return (cursor or 1) - 1

    def caught_up(self) -> bool:
        """Every location in the log is started (or pulled) and sent up to its last sequence."""
        if self.state is not ClientState.READY:
            return False
        return all(self.sent_through(loc) >= self.log.last_seq(loc) for loc in self.log.locations)

    # --- commands that steer the feed ---------------------------------------------------------

    def _start(self, args: list[str], events: list[object]) -> None:
        ack = self._flag("pushmode-ack")
        if not self.push:
            self._send("err~start~not in push mode")
            return
        location = args[0] if args and args[0] else None
        seq: int | None = None
        if len(args) > 1 and args[1]:
            if not args[1].isdigit():
                if ack:
                    self._send("err~start~invalid sequence number")
                return
            seq = max(int(args[1]), 1)
        if location is not None and location not in self.log.locations:
            if ack:
                self._send("err~start~invalid location")
            events.append(BadLine("~".join(["start", *args]), "start for an unknown location"))
            return
        targets = [location] if location else list(self.log.locations)
        for loc in targets:
            self.started[loc] = seq or 1
            self.confirmed[loc] = (seq or 1) - 1  # it asks from seq: it holds what came before
        if ack:
            self._send(f"ack~start~{location}" if location else "ack~start")
        events.append(StartRequested(location, seq, tuple(self.started)))

    def _stop(self, args: list[str], events: list[object]) -> None:
        ack = self._flag("pushmode-ack")
        if not self.push:
            self._send("err~stop~not in push mode")
            return
        location = args[0] if args and args[0] else None
        if location is not None and location not in self.started:
            if ack:
                self._send("err~stop~location not started")
            return
        for loc in [location] if location else list(self.started):
            del self.started[loc]
        if ack:
            self._send(f"ack~stop~{location}" if location else "ack~stop")
        events.append(StopRequested(location))

    def _getdata(self, args: list[str], events: list[object]) -> None:
        if self.push:
            self._send("err~getdata~not in pull mode")
            return
        if not args or not args[0].isdigit():
            self._send("err~getdata~invalid item count")
            return
        max_items = int(args[0])
        location = args[1] if len(args) > 1 and args[1] else None
        seq: int | None = None
        if location is not None and location not in self.log.locations:
            self._send("err~getdata~invalid location")
            return
        if len(args) > 2 and args[2]:
            if not args[2].isdigit():
                self._send("err~getdata~invalid sequence number")
                return
            seq = max(int(args[2]), 1)
        if location is not None and seq is not None:
            self.pull_cursor[location] = seq
            self.confirmed[location] = seq - 1
        pending: list[Observation] = []
        for loc in [location] if location else self.log.locations:
            pending.extend(o for o in self.log.records(loc, self.pull_cursor.get(loc, 1)) if self._visible(o))
        pending.sort(key=lambda o: o.order)
        batch = pending[:max_items]
        self._send(f"ack~getdata~{len(batch)}")
        for obs in batch:
            self._send(self._line(obs))
            self.pull_cursor[obs.location] = obs.seq + 1
        if len(batch) == len(pending):  # everything due went out: step over hidden gun times too
            for loc in [location] if location else self.log.locations:
                self.pull_cursor[loc] = max(self.pull_cursor.get(loc, 1), self.log.last_seq(loc) + 1)
        self.data_lines_sent += len(batch)
        events.append(DataRequested(max_items, location, seq, len(batch)))
