"""A sans-IO CTP01 *client*: what ChronoTrack SimpleClient/Tachyon says to a scoring server.

Race Control is normally the CTP01 *server* (timing-protocols.md §0.1); this is
the other side, so the demo simulator and the tests can drive our server the way
the real software does, byte for byte: the client speaks first
(``SimpleClient~1.2.3~CTP01``), reads ``<name>~<version>~N`` and N
``key=value`` settings (defaults from the spec table for any left out),
authenticates when asked, then only answers commands.  It never sends a line
CTP01 does not define, because the real server side (Tachyon) drops links over
one stray ``OK`` (§1.3).

Data lives in an ``ObservationLog`` that outlives a connection: the log numbers
each location's observations 1..n (gun times included, whether or not this
connection wants them), so after a reconnect the server can ask for
``start~<loc>~<seq>`` (push) or ``getdata~N~<loc>~<seq>`` (pull) and get exactly
what it missed.  The sequence given is *inclusive* (§1.6 leaves it open; PointCam
reads it so and a server dedupes either way).

Choices where the spec is silent [Inf]: ``newlocation`` lines carry the
location's 1-based index as their sequence (they are not part of a location's
numbered stream); ``guntimes=false`` also hides gun times from ``getdata``;
``start`` for a location the client does not have is refused (``err~start~...``
with ``pushmode-ack=true``, silently otherwise); ``start``/``stop`` in pull mode
and ``getdata`` in push mode get ``err~<cmd>~...``.  Everything is driven by
``receive_data(data, now)``/``tick(now)``: no sockets, no clocks.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import Enum

from race_control.timing.ct_time import render_time
from race_control.timing.ctp01_auth import compute_auth_string
from race_control.timing.ctp01_lines import (
    TAGEVENT_FORMAT,
    TAGEVENT_FORMATS,
    format_data_line,
    is_safe,
    safe_text,
)
from race_control.timing.ctp01_observations import Observation, ObservationLog
from race_control.timing.ctp01_settings import DEFAULT_SETTINGS, SETTING_CHOICES
from race_control.timing.events import (
    Authenticated,
    AuthenticationFailed,
    BadLine,
    LinkDead,
    PingAnswered,
    RawLine,
)
from race_control.timing.framing import LineBuffer, OverlongLine

__all__ = [
    "ClientState",
    "CommandAnswered",
    "Ctp01Client",
    "DataRequested",
    "Ready",
    "ServerHello",
    "StartRequested",
    "StopRequested",
]

_SERVER_REPLY = re.compile(r"([^~]*)~([^~]*)~\s*(\d{1,6})\s*")


# --- events the client reports (besides RawLine/BadLine/LinkDead/PingAnswered/Authenticated...) ---


@dataclass(frozen=True, slots=True)
class ServerHello:
    program: str
    version: str
    request_count: int


@dataclass(frozen=True, slots=True)
class Ready:
    """Handshake (and authentication) done; ``settings`` has the spec defaults filled in."""

    settings: dict[str, str]


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


@dataclass(frozen=True, slots=True)
class CommandAnswered:
    command: str


class ClientState(Enum):
    NEW = "new"
    AWAIT_REPLY = "await-reply"
    AWAIT_SETTINGS = "await-settings"
    AWAIT_AUTH = "await-auth"
    READY = "ready"
    CLOSED = "closed"


@dataclass(slots=True)
class _Ping:
    sent_at: float | None = None
    last_sent: float | None = None


class Ctp01Client:
    """One CTP01 client connection (sans-IO).  Feed server bytes, collect bytes to send."""

    def __init__(
        self,
        program: str = "SimpleClient",
        version: str = "1.2.3",
        *,
        event_name: str = "Race Control",
        event_id: str = "1",
        description: str = "",
        connection_id: str = "",
        user: str | None = None,
        password: str | None = None,
        log: ObservationLog | None = None,
        ping_interval: float | None = None,
        ping_timeout: float = 30.0,
        connected_at: dt.datetime | None = None,
    ) -> None:
        for name, value in (("user", user), ("password", password)):
            if value is not None and not is_safe(value):
                raise ValueError(f"{name} must be printable ASCII without '~'")
        self.program, self.version = safe_text(program), safe_text(version)
        self.event_name, self.event_id, self.description = (
            safe_text(event_name),
            safe_text(event_id),
            safe_text(description),
        )
        self.connection_id = safe_text(connection_id) or "0"
        self.user, self.password = user, password
        self.log = log if log is not None else ObservationLog()
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.connected_at = connected_at
        self.state = ClientState.NEW
        self.settings: dict[str, str] = dict(DEFAULT_SETTINGS)
        self.server_program = self.server_version = ""
        self.authenticated = False
        self.started: dict[str, int] = {}  # push: location -> next sequence to send
        self.pull_cursor: dict[str, int] = {}
        self.data_lines_sent = 0
        self._buffer = LineBuffer()
        self._out: list[str] = []
        self._pending_settings = 0
        self._announced: set[str] = set()
        self._id_asked = False
        self._ping = _Ping()
        self._format = TAGEVENT_FORMAT

    # --- outbound -----------------------------------------------------------------------------

    def initiate(self) -> None:
        """Queue the greeting; the CTP01 client always speaks first."""
        if self.state is ClientState.NEW:
            self._send(f"{self.program}~{self.version}~CTP01")
            self.state = ClientState.AWAIT_REPLY

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

    # --- inbound ------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[object]:
        """Feed server bytes; returns events.  Never raises on any input."""
        events: list[object] = []
        if self.state is ClientState.CLOSED:
            return events
        for item in self._buffer.feed(data):
            if self.state is ClientState.CLOSED:
                break
            if isinstance(item, OverlongLine):
                events.append(BadLine(item.head, f"line of {item.length} bytes is too long"))
                continue
            events.append(RawLine(item))
            self._handle(item.strip(), now, events)
            self._pump()  # data right after the command that started it, as a real client does
        return events

    def tick(self, now: float) -> list[object]:
        """Send our own ``ping`` every ``ping_interval`` s; a missing ``ack~ping`` kills the link."""
        if self.state is not ClientState.READY or self.ping_interval is None:
            return []
        p = self._ping
        if p.sent_at is not None and now - p.sent_at > self.ping_timeout:
            self.state = ClientState.CLOSED
            return [LinkDead(f"no ack~ping within {self.ping_timeout:g} s")]
        if p.sent_at is None and (p.last_sent is None or now - p.last_sent >= self.ping_interval):
            self.send_ping(now)
        return []

    def send_ping(self, now: float) -> None:
        self._send("ping")
        self._ping.sent_at = self._ping.last_sent = now

    def _close(self, events: list[object], reason: str) -> None:
        self.state = ClientState.CLOSED
        events.append(LinkDead(reason))

    def _handle(self, line: str, now: float, events: list[object]) -> None:
        if not line:
            return
        if self.state is ClientState.NEW:
            events.append(BadLine(line, "server spoke before the client greeting"))
        elif self.state is ClientState.AWAIT_REPLY:
            m = _SERVER_REPLY.fullmatch(line)
            if not m:
                self._close(events, f"unexpected server reply {line[:60]!r}")
                return
            self.server_program, self.server_version = m[1], m[2]
            self._pending_settings = int(m[3])
            events.append(ServerHello(m[1], m[2], self._pending_settings))
            self.state = ClientState.AWAIT_SETTINGS
            if not self._pending_settings:
                self._settings_done(events)
        elif self.state is ClientState.AWAIT_SETTINGS:
            self._setting(line, events)
            self._pending_settings -= 1
            if not self._pending_settings:
                self._settings_done(events)
        elif self.state is ClientState.AWAIT_AUTH:
            parts = line.split("~")
            if parts[:2] == ["ack", "authorize"]:
                self.authenticated = True
                events.append(Authenticated(self.user or ""))
                self._ready(events)
            elif parts[:2] == ["err", "authorize"]:
                events.append(AuthenticationFailed(self.user or "", "~".join(parts[2:]) or "rejected"))
                self._close(events, "authentication rejected")
            else:
                events.append(BadLine(line, "expected ack~authorize or err~authorize"))
        else:
            self._command(line, now, events)

    def _setting(self, line: str, events: list[object]) -> None:
        key, eq, value = line.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not eq or not key:
            events.append(BadLine(line, "expected key=value"))
            return
        if key in SETTING_CHOICES:
            value = value.lower()
            if value not in SETTING_CHOICES[key]:
                events.append(BadLine(line, f"unsupported value for {key}; using {DEFAULT_SETTINGS[key]}"))
                return
        if key == "tagevent-format":
            value = value.upper()
            if not TAGEVENT_FORMATS.fullmatch(value):
                events.append(BadLine(line, f"unsupported tagevent-format; using {TAGEVENT_FORMAT}"))
                return
        self.settings[key] = value

    def _settings_done(self, events: list[object]) -> None:
        self._format = self.settings["tagevent-format"]
        method = self.settings["authentication"]
        if method == "none":
            self._ready(events)
            return
        if self.user is None or self.password is None:
            self._close(events, f"server requires {method} authentication but no user/password is set")
            return
        secret = compute_auth_string(method, self.password, self.settings.get("authentication-seed", ""))
        self._send(f"authorize~{self.user}~{secret}")
        self.state = ClientState.AWAIT_AUTH

    def _ready(self, events: list[object]) -> None:
        self.state = ClientState.READY
        events.append(Ready(dict(self.settings)))
        self._announce_new_locations()

    def _command(self, line: str, now: float, events: list[object]) -> None:
        parts = line.split("~")
        cmd, args = parts[0].strip(), [a.strip() for a in parts[1:]]
        if cmd == "ping":
            self._send("ack~ping")
        elif cmd == "ack" and args[:1] == ["ping"]:
            if self._ping.sent_at is not None:
                events.append(PingAnswered(max(now - self._ping.sent_at, 0.0)))
                self._ping.sent_at = None
            return
        elif cmd == "geteventinfo":
            self._send(f"ack~geteventinfo~{self.event_name}~{self.event_id}~{self.description}")
        elif cmd == "getlocations":
            self._send("~".join(["ack", "getlocations", *self.log.locations]))
        elif cmd == "getconnectionid":
            self._send(f"ack~getconnectionid~{self.connection_id}")
            self._id_asked = True
            self._announce_new_locations()
        elif cmd == "start":
            self._start(args, events)
            return
        elif cmd == "stop":
            self._stop(args, events)
            return
        elif cmd == "getdata":
            self._getdata(args, events)
            return
        else:
            if cmd in ("ack", "err"):
                events.append(BadLine(line, "unexpected reply from server"))
                return
            self._send(f"err~{safe_text(cmd, 32)}~unknown command")
            events.append(BadLine(line, "unknown command"))
            return
        events.append(CommandAnswered(cmd))

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
