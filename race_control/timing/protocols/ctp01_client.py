"""A sans-IO CTP01 *client*: what ChronoTrack SimpleClient/Tachyon says to a scoring server.

Race Control is normally the CTP01 *server* (docs/protocols/ctp01.md#roles); this is
the other side, so the demo simulator and the tests can drive our server the way
the real software does, byte for byte: the client speaks first
(``SimpleClient~1.2.3~CTP01``), reads ``<name>~<version>~N`` and N
``key=value`` settings (defaults from the spec table for any left out),
authenticates when asked, then only answers commands.  It never sends a line
CTP01 does not define, because the real server side (Tachyon) drops links over
one stray ``OK`` (docs/protocols/ctp01.md#handshake).

Data lives in an ``ObservationLog`` (``ctp01_observations``) that outlives a
connection: the log numbers each location's observations 1..n (gun times
included, whether or not this connection wants them), so after a reconnect the
server can ask for ``start~<loc>~<seq>`` (push) or ``getdata~N~<loc>~<seq>``
(pull) and get exactly what it missed; ``ctp01_feed.Ctp01Feed``, this class's
base, does that delivering.  The sequence given is *inclusive* (the spec leaves it
open, docs/protocols/ctp01.md#resume; PointCam reads it so and a server dedupes either way).

Choices where the spec is silent [Inf]: ``newlocation`` lines carry the
location's 1-based index as their sequence (they are not part of a location's
numbered stream); ``guntimes=false`` also hides gun times from ``getdata``;
``start`` for a location the client does not have is refused (``err~start~...``
with ``pushmode-ack=true``, silently otherwise); ``start``/``stop`` in pull mode
and ``getdata`` in push mode get ``err~<cmd>~...``.  Everything is driven by
``receive_data(data, now)``/``tick(now)``: no sockets, no clocks.

Proof of delivery: a line written is not a line delivered (the server may have paused
reading, or reset the connection with our lines unread).  ``send_ping`` remembers how far
each location had been sent when the ``ping`` was queued; a server answers pings in order
with everything before them read, so its ``ack~ping`` confirms exactly that much
(``confirmed``).  A ``start~<loc>~<seq>`` (or ``getdata`` naming a seq) is the server's own
statement of what it holds, and replaces what this connection had confirmed for ``loc``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import deque
from dataclasses import dataclass

from race_control.timing.protocols.ctp01_auth import compute_auth_string
from race_control.timing.protocols.ctp01_feed import ClientState, Ctp01Feed
from race_control.timing.protocols.ctp01_lines import is_safe, safe_text
from race_control.timing.protocols.ctp01_observations import ObservationLog
from race_control.timing.protocols.ctp01_settings import Ctp01ConfigError, parse_setting
from race_control.timing.protocols.events import (
    Authenticated,
    AuthenticationFailed,
    BadLine,
    LinkDead,
    PingAnswered,
    RawLine,
)
from race_control.timing.protocols.framing import LineBuffer, OverlongLine

__all__ = ["CommandAnswered", "Ctp01Client", "Ready", "ServerHello"]

_SERVER_REPLY = re.compile(r"([^~]*)~([^~]*)~\s*(\d{1,6})\s*")


# --- events the client reports (besides RawLine/BadLine/LinkDead/Authenticated..., and the feed's) ---


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
class CommandAnswered:
    command: str


@dataclass(frozen=True, slots=True)
class _Ping:
    sent_at: float
    covers: dict[str, int]  # location -> highest seq sent before this ping


class Ctp01Client(Ctp01Feed):
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
                raise Ctp01ConfigError(f"{name} must be printable ASCII without '~'")
        self.program, self.version = safe_text(program), safe_text(version)
        self.event_name, self.event_id, self.description = (
            safe_text(event_name),
            safe_text(event_id),
            safe_text(description),
        )
        self.connection_id = safe_text(connection_id) or "0"
        super().__init__(log, connected_at)
        self.user, self.password = user, password
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.server_program = self.server_version = ""
        self.authenticated = False
        self._buffer = LineBuffer()
        self._pending_settings = 0
        self._pings: deque[_Ping] = deque()  # sent, not yet answered (answers come in order)
        self._last_ping: float | None = None

    def initiate(self) -> None:
        """Queue the greeting; the CTP01 client always speaks first."""
        if self.state is ClientState.NEW:
            self._send(f"{self.program}~{self.version}~CTP01")
            self.state = ClientState.AWAIT_REPLY

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
        if self._pings and now - self._pings[0].sent_at > self.ping_timeout:
            self.state = ClientState.CLOSED
            return [LinkDead(f"no ack~ping within {self.ping_timeout:g} s")]
        if not self._pings and (self._last_ping is None or now - self._last_ping >= self.ping_interval):
            self.send_ping(now)
        return []

    def send_ping(self, now: float) -> None:
        """Queue a ``ping``; its ``ack~ping`` confirms every data line queued before it."""
        covers = {loc: self.sent_through(loc) for loc in self.log.locations}
        self._send("ping")
        self._pings.append(_Ping(now, covers))
        self._last_ping = now

    @property
    def pings_outstanding(self) -> int:
        """Pings sent and not yet answered."""
        return len(self._pings)

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
        parsed = parse_setting(line)
        if isinstance(parsed, str):
            events.append(BadLine(line, parsed))
            return
        key, value = parsed
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
            if self._pings:
                ping = self._pings.popleft()
                for loc, seq in ping.covers.items():
                    self.confirmed[loc] = max(self.confirmed.get(loc, 0), seq)
                events.append(PingAnswered(max(now - ping.sent_at, 0.0)))
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
