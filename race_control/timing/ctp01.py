"""ChronoTrack Socket Protocol 1 (CTP01), server side, sans-IO.

The ChronoTrack software (SimpleClient, Tachyon) is the TCP *client*; we are the
server it connects to and it speaks first (timing-protocols.md §1.2-1.6).  This
module is only the state machine: ``receive_data(bytes, now)`` returns events,
``data_to_send()`` returns the bytes to write, ``tick(now)`` drives pings, pull
polling and dead-link detection.  No sockets, no clock, no database; the caller
passes ``now`` and a fresh random ``seed`` per connection.

Conversation::

    C: SimpleClient~1.2.3~CTP01
    S: RaceControl~0.1.0~9          + 9 ``key=value`` request lines
    C: authorize~user~string        (only if authentication is requested)
    S: ack~authorize | err~authorize~...  (then the link is dead)
    S: geteventinfo / getlocations / getconnectionid
    C: ack~getconnectionid~X        → ConnectionIdentified(X)
    caller: begin_streaming({location: last stored seq})
    S: start~finish~4530            (push)  or  getdata~100~finish~4530 (pull, from tick)

Rules that are easy to get wrong and why they are here:

* Never send a line CTP01 does not define: Tachyon drops the link on anything
  unexpected (a bare ``OK`` killed real sessions).  Every outbound line comes from
  a small fixed set; the tests check them against a whitelist.
* Resume sends the *last stored* sequence number, not last+1.  The spec does not
  say whether the number is inclusive; resending one read is harmless because
  reads are deduped on (connection, location, seq), skipping one would lose it.
  Pull mode learns the semantics from the first reply (see ``_poll``).
* Nothing the client sends raises: malformed input becomes ``BadLine`` and is
  counted; only a failed ``authorize`` ends the link (the spec says disconnect).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from race_control import __version__
from race_control.timing.ct_time import TIME_FORMATS, TimeFormatError, detect_time_format, parse_ct_time
from race_control.timing.events import (
    Authenticated,
    AuthenticationFailed,
    BadLine,
    ConnectionIdentified,
    EventInfo,
    Greeting,
    GunTime,
    LinkDead,
    Locations,
    NewLocation,
    PingAnswered,
    RawLine,
    TagRead,
    TimingEvent,
)
from race_control.timing.framing import LineBuffer, OverlongLine

__all__ = [
    "AUTH_METHODS",
    "DEFAULT_PORT",
    "TAGEVENT_FORMAT",
    "Ctp01Config",
    "Ctp01ConfigError",
    "Ctp01Error",
    "Ctp01Server",
    "Ctp01StateError",
    "compute_auth_string",
]

DEFAULT_PORT = 61611
TAGEVENT_FORMAT = "CT01_33"
AUTH_METHODS = ("none", "plaintext", "hmac-sha1", "hmac-md5", "seed-sha1", "seed-md5")
_SEEDED = frozenset(AUTH_METHODS[2:])
# CTff_ss with separator nibble 3 (tilde) and variable width: the only data lines we can split on "~"
_DATA_FORMAT = re.compile(r"CT[0-9A-F]{2}_3[0-7]", re.IGNORECASE)
_PROTOCOL = re.compile(r"CTP\d+", re.IGNORECASE)
_FORBIDDEN = ("~", "\r", "\n", "\x00")
_MAX_PENDING_PINGS = 16
_DATA_LAYOUT = "format~seq~location~tag~time~lap~readerid~gator"  # CTFF01 rev 2, authoritative


class Ctp01Error(Exception):
    """Root of this module's errors (raised for caller mistakes, never for client input)."""


class Ctp01ConfigError(Ctp01Error, ValueError):
    """The configuration (or seed) would make us send an invalid line."""


class Ctp01StateError(Ctp01Error):
    """A command was issued before the handshake allows it."""


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _field_ok(text: str) -> bool:
    if not text or any(c in text for c in _FORBIDDEN):
        return False
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class Ctp01Config:
    """What we ask the client for, and how we interpret what it sends."""

    server_name: str = "RaceControl"
    server_version: str = __version__
    stream_mode: str = "push"  # push | pull
    location: str = "multi"  # single | multi
    guntimes: bool = True
    newlocations: bool = True
    connection_id: bool = True
    time_format: str = "normal"  # normal | iso | unix | msecs
    pushmode_ack: bool = False
    authentication: str = "none"  # see AUTH_METHODS
    credentials: Mapping[str, str] = field(default_factory=dict)  # user -> password
    ping_interval: float = 10.0
    dead_after: float = 40.0
    handshake_timeout: float = 30.0
    pull_batch: int = 100
    pull_interval: float = 0.5
    locations_poll_interval: float = 30.0  # getlocations polling when newlocation events are unavailable
    timezone: str = "UTC"
    reference_date: dt.date | None = None

    def validate(self) -> None:
        """Raise ``Ctp01ConfigError`` for any value that could not go on the wire as-is."""
        choices = {
            "stream_mode": ("push", "pull"),
            "location": ("single", "multi"),
            "time_format": TIME_FORMATS,
            "authentication": AUTH_METHODS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise Ctp01ConfigError(f"{name}={getattr(self, name)!r}; expected one of {allowed}")
        for name in ("server_name", "server_version"):
            if not _field_ok(getattr(self, name)):
                raise Ctp01ConfigError(f"{name} must be non-empty latin-1 text without '~' or line breaks")
        for name in ("ping_interval", "dead_after", "handshake_timeout", "locations_poll_interval"):
            if not getattr(self, name) > 0:
                raise Ctp01ConfigError(f"{name} must be > 0")
        if not self.pull_interval >= 0:
            raise Ctp01ConfigError("pull_interval must be >= 0")
        if not isinstance(self.pull_batch, int) or not 1 <= self.pull_batch <= 999999:
            raise Ctp01ConfigError("pull_batch must be an int in 1..999999")


def compute_auth_string(method: str, password: str, seed: str) -> str:
    """The ``authorize`` string a client must send (spec §1.3 step 4).

    plaintext: the password; hmac-*: HMAC(key=password, msg=seed) hex;
    seed-*: hash(seed + password) hex.  UTF-8 is assumed for non-ASCII text.
    """
    if method == "plaintext":
        return password
    if method not in _SEEDED:
        raise Ctp01ConfigError(f"no authentication string for method {method!r}")
    algo = method.split("-", 1)[1]
    if method.startswith("hmac-"):
        return hmac.new(password.encode(), seed.encode(), algo).hexdigest()
    return hashlib.new(algo, (seed + password).encode()).hexdigest()


def _uint(text: str, *, empty: int | None = None) -> int | None:
    """Non-negative decimal integer (surrounding blanks tolerated), else None."""
    s = text.strip()
    if not s:
        return empty
    if not s.isascii() or not s.isdigit() or len(s) > 12:
        return None
    return int(s)


@dataclass
class _PullRequest:
    location: str
    seq: int | None  # sequence number sent, None = from the first observation
    sent_at: float
    checked: bool = False  # inclusive/exclusive inferred from this reply already


class Ctp01Server:
    """One CTP01 connection, server side.  Feed bytes in, send ``data_to_send()`` out."""

    def __init__(self, config: Ctp01Config, *, seed: str | None = None, now: float = 0.0) -> None:
        config.validate()
        self.config = config
        try:
            self._tz = ZoneInfo(config.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise Ctp01ConfigError(f"unknown timezone {config.timezone!r}") from exc
        self._reference_date = config.reference_date or dt.datetime.fromtimestamp(now, self._tz).date()
        if config.authentication in _SEEDED:
            # the caller should pass a fresh seed; a random one is the only safe fallback
            seed = seed if seed is not None else secrets.token_hex(16)
            if not _field_ok(seed):
                raise Ctp01ConfigError("seed must be non-empty latin-1 text without '~' or line breaks")
        self._seed = seed
        self._buffer = LineBuffer()
        self._out: list[str] = []
        self._phase = "greeting"  # greeting -> auth -> ready -> closed
        self._created = now
        self._last_rx = now
        self._greeting: Greeting | None = None
        self._user: str | None = None
        self._connection_id: str | None = None
        self._connid_failed = False
        self._eventinfo_done = False
        self._event_info: EventInfo | None = None
        self._locations: list[str] = []
        self._started: set[str] = set()
        self._stopped: set[str] = set()  # explicitly stopped: not auto-started again
        self._last_seq: dict[str, int] = {}
        self._streaming = False
        self._pings: deque[float] = deque(maxlen=_MAX_PENDING_PINGS)
        self._next_ping = self._next_locations_poll = self._next_pull = now
        self._pull: _PullRequest | None = None
        self._pull_remaining = 0
        self._pull_size = 0
        self._pull_cursor: dict[str, int] = {}
        self._pull_inclusive: bool | None = None
        self._pull_turn = 0
        self._bad_lines = 0

    # ------------------------------------------------------------------ read-only state
    @property
    def greeting(self) -> Greeting | None:
        return self._greeting

    @property
    def connection_id(self) -> str | None:
        return self._connection_id

    @property
    def event_info(self) -> EventInfo | None:
        return self._event_info

    @property
    def locations(self) -> tuple[str, ...]:
        """Locations in order of discovery (getlocations, newlocation, data lines, start())."""
        return tuple(self._locations)

    @property
    def started(self) -> frozenset[str]:
        """Locations started (push) or being polled (pull)."""
        return frozenset(self._started)

    @property
    def last_seq(self) -> dict[str, int]:
        """Highest sequence number known per location: resume cursors merged with reads seen."""
        return dict(self._last_seq)

    @property
    def closed(self) -> bool:
        return self._phase == "closed"

    @property
    def phase(self) -> str:
        """``greeting`` → ``auth`` (if requested) → ``ready`` → ``closed``."""
        return self._phase

    @property
    def bad_lines(self) -> int:
        return self._bad_lines

    @property
    def seed(self) -> str | None:
        """The authentication seed offered to the client (None without hmac/seed auth)."""
        return self._seed

    @property
    def user(self) -> str | None:
        return self._user

    # ------------------------------------------------------------------ public API
    def set_clock(self, timezone: str, reference_date: dt.date) -> None:
        """Interpret times in this source's own zone and day (per-source setting, applied once
        the stream is identified and before streaming starts)."""
        try:
            self._tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise Ctp01ConfigError(f"unknown timezone {timezone!r}") from exc
        self._reference_date = reference_date

    def receive_data(self, data: bytes, now: float) -> list[TimingEvent]:
        """Consume inbound bytes; every line yields ``RawLine`` first, then derived events."""
        events: list[TimingEvent] = []
        if self._phase == "closed":
            return events
        if data:
            self._last_rx = now
        for item in self._buffer.feed(data):
            if self._phase == "closed":
                break
            if isinstance(item, OverlongLine):
                self._bad(events, item.head, f"line too long ({item.length} bytes), dropped")
                continue
            events.append(RawLine(item))
            self._handle(item, now, events)
        return events

    def begin_streaming(self, cursors: Mapping[str, int]) -> None:
        """Start the data flow, resuming each location from its last *stored* seq.

        Call after ``ConnectionIdentified`` with the store's last seq per location for
        that connection id.  Known locations start now, later ones as they appear.
        """
        if self._phase == "closed":
            return
        if self._phase != "ready":
            raise Ctp01StateError("begin_streaming() before the handshake/authentication finished")
        for loc, seq in cursors.items():
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
                raise Ctp01Error(f"cursor for {loc!r} must be an int >= 0, got {seq!r}")
            if seq:
                self._last_seq[loc] = max(self._last_seq.get(loc, 0), seq)
        self._streaming = True
        for loc in self._locations:
            self._auto_start(loc)

    def start(self, location: str, after_seq: int | None = None) -> None:
        """Start (push) or begin polling (pull) one location; no-op if already started.

        ``after_seq=None`` resumes from the last known seq, ``0`` replays from the
        first observation, ``n`` sends ``start~location~n`` (the client may resend n).
        """
        if self._phase == "closed":
            return
        if self._phase != "ready":
            raise Ctp01StateError("start() before the handshake/authentication finished")
        if not _field_ok(location):
            raise Ctp01Error(f"invalid location name {location!r}")
        if after_seq is not None and (not isinstance(after_seq, int) or after_seq < 0):
            raise Ctp01Error(f"after_seq must be None or an int >= 0, got {after_seq!r}")
        self._stopped.discard(location)
        if location not in self._locations:
            self._locations.append(location)
        seq = self._last_seq.get(location) if after_seq is None else after_seq
        self._start(location, seq or None)

    def stop(self, location: str | None = None) -> None:
        """Stop one location (or all): ``stop[~loc]`` in push mode, stop polling in pull mode."""
        if self._phase == "closed":
            return
        if self._phase != "ready":
            raise Ctp01StateError("stop() before the handshake/authentication finished")
        if location is not None and not _field_ok(location):
            raise Ctp01Error(f"invalid location name {location!r}")
        targets = set(self._locations) | self._started if location is None else {location}
        self._stopped |= targets
        self._started -= targets
        if self.config.stream_mode == "push":
            self._send("stop" if location is None else f"stop~{location}")

    def tick(self, now: float) -> list[TimingEvent]:
        """Time-driven work: dead-link and handshake timeouts, pings, pull polling."""
        events: list[TimingEvent] = []
        if self._phase == "closed":
            return events
        cfg = self.config
        if now - self._last_rx >= cfg.dead_after:
            return self._die(events, f"no data from client for {now - self._last_rx:.1f} s")
        if self._connection_id is None and now - self._created >= cfg.handshake_timeout:
            return self._die(events, f"handshake not completed within {cfg.handshake_timeout:g} s")
        if self._phase != "ready":
            return events
        if now >= self._next_ping:
            self._send("ping")
            self._pings.append(now)
            self._next_ping = now + cfg.ping_interval
        if self._streaming:
            polling_needed = cfg.stream_mode == "pull" or not cfg.newlocations
            if polling_needed and now >= self._next_locations_poll:
                self._send("getlocations")
                self._next_locations_poll = now + cfg.locations_poll_interval
            if cfg.stream_mode == "pull":
                self._poll(now)
        return events

    def data_to_send(self) -> bytes:
        """Drain queued outbound lines as CRLF-terminated bytes."""
        if not self._out:
            return b""
        data = "".join(line + "\r\n" for line in self._out).encode("latin-1", "replace")
        self._out.clear()
        return data

    # ------------------------------------------------------------------ internals
    def _send(self, line: str) -> None:
        self._out.append(line)

    def _bad(self, events: list[TimingEvent], line: str, reason: str) -> None:
        self._bad_lines += 1
        events.append(BadLine(line, reason))

    def _die(self, events: list[TimingEvent], reason: str) -> list[TimingEvent]:
        self._phase = "closed"
        events.append(LinkDead(reason))
        return events

    def _handle(self, raw: str, now: float, events: list[TimingEvent]) -> None:
        fields = raw.strip().split("~")
        head = fields[0].lower()
        if self._phase == "greeting":
            self._on_greeting(raw, fields, now, events)
            return
        if head == "ping" and len(fields) == 1:
            self._send("ack~ping")
            return
        if self._phase == "auth":
            if head == "authorize":
                self._on_authorize(fields, now, events)
            else:
                self._bad(events, raw, "not authenticated yet: expected authorize~<user>~<string>")
            return
        is_data = bool(_DATA_FORMAT.fullmatch(fields[0]))
        if self._pull_remaining and not is_data:
            self._bad(events, raw, f"getdata reply cut short: {self._pull_remaining} data line(s) missing")
            self._finish_pull(now)
        if is_data:
            self._on_data(raw, fields, now, events)
        elif head == "ack":
            self._on_ack(raw, fields, now, events)
        elif head == "err":
            self._on_err(raw, fields, now, events)
        elif head == "authorize":
            self._bad(events, raw, "authorize not expected now")
        else:
            self._bad(events, raw, "unknown line (not a CTP01 reply or data line)")

    def _on_greeting(self, raw: str, fields: list[str], now: float, events: list[TimingEvent]) -> None:
        parts = [f.strip() for f in fields]
        if len(parts) != 3 or not all(parts) or not _PROTOCOL.fullmatch(parts[2]):
            self._bad(events, raw, "expected greeting <program>~<version>~CTP01")
            return
        self._greeting = Greeting(*parts)
        events.append(self._greeting)
        cfg = self.config
        settings = [
            f"location={cfg.location}",
            f"guntimes={_bool(cfg.guntimes)}",
            f"newlocations={_bool(cfg.newlocations)}",
            f"connection-id={_bool(cfg.connection_id)}",
            f"stream-mode={cfg.stream_mode}",
            f"time-format={cfg.time_format}",
            f"tagevent-format={TAGEVENT_FORMAT}",
            f"pushmode-ack={_bool(cfg.pushmode_ack)}",
            f"authentication={cfg.authentication}",
        ]
        if cfg.authentication in _SEEDED:
            settings.append(f"authentication-seed={self._seed}")
        self._send(f"{cfg.server_name}~{cfg.server_version}~{len(settings)}")
        for line in settings:
            self._send(line)
        if cfg.authentication == "none":
            self._ready(now)
        else:
            self._phase = "auth"

    def _on_authorize(self, fields: list[str], now: float, events: list[TimingEvent]) -> None:
        user = fields[1] if len(fields) > 1 else ""
        if len(fields) != 3:
            reason = "malformed authorize line (expected authorize~<user>~<string>)"
        else:
            method = self.config.authentication
            password = self.config.credentials.get(user)
            expected = compute_auth_string(method, password or "", self._seed or "")
            given = fields[2].strip()
            if method != "plaintext":
                given, expected = given.lower(), expected.lower()
            match = hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))
            if password is not None and match:
                self._user = user
                self._send("ack~authorize")
                events.append(Authenticated(user))
                self._ready(now)
                return
            reason = f"wrong {method} credentials for {user!r}"
            if password is None:
                reason = f"unknown user {user!r}"
        self._send("err~authorize~authentication failed")
        events.append(AuthenticationFailed(user, reason))
        self._die(events, f"authentication failed: {reason}")

    def _ready(self, now: float) -> None:
        self._phase = "ready"
        for command in ("geteventinfo", "getlocations", "getconnectionid"):
            self._send(command)
        self._next_ping = now + self.config.ping_interval
        self._next_locations_poll = now + self.config.locations_poll_interval

    def _on_ack(self, raw: str, fields: list[str], now: float, events: list[TimingEvent]) -> None:
        what = fields[1].strip().lower() if len(fields) > 1 else ""
        args = fields[2:]
        if what == "ping":
            if self._pings:
                events.append(PingAnswered(max(0.0, now - self._pings.popleft())))
        elif what == "geteventinfo":
            name, event_id, *rest = [*args, "", ""]
            self._event_info = EventInfo(name, event_id, "~".join(rest).rstrip("~"))
            events.append(self._event_info)
            self._eventinfo_done = True
            self._maybe_derive_id(events)
        elif what == "getlocations":
            names = tuple(dict.fromkeys(n for n in args if n.strip()))
            events.append(Locations(names))
            for name in names:
                self._learn_location(name)
        elif what == "getconnectionid":
            cid = "~".join(args).strip()
            if not cid:
                self._bad(events, raw, "empty connection id")
                self._connid_failed = True
                self._maybe_derive_id(events)
            elif self._connection_id is None:
                self._connection_id = cid
                events.append(ConnectionIdentified(cid, from_client=True))
            elif cid != self._connection_id:
                self._bad(events, raw, f"connection id changed from {self._connection_id!r}; ignored")
        elif what == "getdata":
            count = _uint(args[0]) if len(args) == 1 else None
            if count is None:
                self._bad(events, raw, "ack~getdata needs one item count")
                self._finish_pull(now)
                return
            self._pull_remaining = self._pull_size = count
            if count == 0:
                self._finish_pull(now)
        elif what in ("start", "stop"):
            pass  # pushmode-ack confirmations: nothing to do
        else:
            self._bad(events, raw, f"unexpected reply ack~{what}")

    def _on_err(self, raw: str, fields: list[str], now: float, events: list[TimingEvent]) -> None:
        command = fields[1].strip().lower() if len(fields) > 1 else ""
        message = "~".join(fields[2:]).strip()
        if command == "getconnectionid":  # clients before SimpleClient 0.4.0: expected, not bad
            self._connid_failed = True
            self._maybe_derive_id(events)
            return
        if command == "geteventinfo":
            self._eventinfo_done = True
        elif command == "getdata":
            self._finish_pull(now)
        self._bad(events, raw, f"client reported an error for {command or 'a command'!r}: {message or '-'}")
        self._maybe_derive_id(events)

    def _maybe_derive_id(self, events: list[TimingEvent]) -> None:
        """Old clients have no connection id: derive a stable one from program + event."""
        if self._connection_id or not self._connid_failed or not self._eventinfo_done:
            return
        info = self._event_info or EventInfo("", "", "")
        program = self._greeting.program if self._greeting else ""
        key = "\x1f".join((program, info.event_id, info.name))
        self._connection_id = "derived-" + hashlib.sha1(key.encode("utf-8", "replace")).hexdigest()[:20]
        events.append(ConnectionIdentified(self._connection_id, from_client=False))

    def _on_data(self, raw: str, fields: list[str], now: float, events: list[TimingEvent]) -> None:
        in_reply = self._pull_remaining > 0
        if in_reply:
            self._pull_remaining -= 1
        self._parse_data(raw, fields, events, self._pull if in_reply else None)
        if in_reply and self._pull_remaining == 0:
            self._finish_pull(now)

    def _parse_data(
        self, raw: str, fields: list[str], events: list[TimingEvent], pull: _PullRequest | None
    ) -> None:
        if len(fields) != 8:
            self._bad(events, raw, f"data line has {len(fields)} fields, expected 8 ({_DATA_LAYOUT})")
            return
        _fmt, seq_text, loc, tag, time_text, lap_text, reader, gator_text = fields
        seq = _uint(seq_text)
        if seq is None:
            self._bad(events, raw, f"sequence number {seq_text!r} is not a number")
            return
        if not loc.strip():
            self._bad(events, raw, "empty location")
            return
        if not tag.strip():
            self._bad(events, raw, "empty tag")
            return
        kind = tag.strip().lower()
        if kind == "newlocation":
            # its seq is not a read of that location: never a resume cursor
            events.append(NewLocation(loc, seq, raw))
            self._learn_location(loc)
            return
        lap, gator = _uint(lap_text, empty=0), _uint(gator_text, empty=0)
        if lap is None or gator is None:
            self._bad(events, raw, f"lap {lap_text!r} / gator {gator_text!r} must be numbers")
            return
        clock, problem = self._parse_time(time_text)
        if clock is None:
            self._bad(events, raw, f"bad time: {problem}")
            return
        if pull is not None and not pull.checked:
            pull.checked = True
            known = pull.seq is not None and self._pull_inclusive is None and loc == pull.location
            if known and seq in (pull.seq, pull.seq + 1):
                self._pull_inclusive = seq == pull.seq
        if kind == "guntime":
            events.append(GunTime(loc, seq, time_text, clock, reader, raw))
        else:
            events.append(TagRead(loc, seq, tag, time_text, clock, lap, reader, gator, raw))
        self._last_seq[loc] = max(self._last_seq.get(loc, 0), seq)
        self._pull_cursor[loc] = max(self._pull_cursor.get(loc, 0), seq)
        if loc not in self._locations:
            self._locations.append(loc)  # the client is evidently sending it: known, not (re)started

    def _parse_time(self, text: str) -> tuple[float | None, str]:
        """Configured format first; if the client ignored time-format, accept any valid format."""
        kw = {"reference_date": self._reference_date, "tz": self._tz}
        try:
            return parse_ct_time(text, self.config.time_format, **kw), ""
        except TimeFormatError as exc:
            other = detect_time_format(text)
            if other is None or other == self.config.time_format:
                return None, str(exc)
            try:
                return parse_ct_time(text, other, **kw), ""
            except TimeFormatError as exc2:
                return None, str(exc2)

    def _learn_location(self, loc: str) -> None:
        if loc not in self._locations:
            self._locations.append(loc)
        if self._streaming:
            self._auto_start(loc)

    def _auto_start(self, loc: str) -> None:
        if loc not in self._stopped and loc not in self._started:
            self._start(loc, self._last_seq.get(loc))

    def _start(self, loc: str, seq: int | None) -> None:
        if loc in self._started:
            return
        self._started.add(loc)
        if self.config.stream_mode == "pull":
            if seq:
                self._pull_cursor[loc] = seq
            else:
                self._pull_cursor.pop(loc, None)
        else:
            self._send(f"start~{loc}~{seq}" if seq else f"start~{loc}")

    def _poll(self, now: float) -> None:
        """Send the next ``getdata`` (one outstanding request at a time, round robin).

        The spec does not say whether ``getdata``'s sequence number is inclusive.  We
        ask for the last seq we hold, so no read can be skipped; the first reply that
        starts at that seq (inclusive) or right after it (exclusive) tells us which,
        and an inclusive client is then asked for last+1 to avoid a resent read per poll.
        """
        if self._pull is not None:
            if now - self._pull.sent_at < self.config.dead_after:
                return
            self._pull = None  # unanswered: ask again (a silent client dies by dead_after)
            self._pull_remaining = 0
        if now < self._next_pull:
            return
        order = [loc for loc in self._locations if loc in self._started]
        if not order:
            return
        loc = order[self._pull_turn % len(order)]
        self._pull_turn += 1
        cursor = self._pull_cursor.get(loc)
        seq = None if not cursor else cursor + 1 if self._pull_inclusive else cursor
        self._pull = _PullRequest(loc, seq, now)
        batch = self.config.pull_batch
        self._send(f"getdata~{batch}~{loc}~{seq}" if seq else f"getdata~{batch}~{loc}")

    def _finish_pull(self, now: float) -> None:
        full = self._pull is not None and self._pull_size >= self.config.pull_batch
        self._pull = None
        self._pull_remaining = self._pull_size = 0
        self._next_pull = now if full else now + self.config.pull_interval  # full batch: more waiting
