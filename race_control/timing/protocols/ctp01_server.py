"""ChronoTrack Socket Protocol 1 (CTP01), server side, sans-IO.

The ChronoTrack software (SimpleClient, Tachyon) is the TCP *client*; we are the
server it connects to and it speaks first (docs/protocols/ctp01.md).  This
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
  Pull mode learns the semantics from the first reply (see ``ctp01_pull``).
* Nothing the client sends raises: malformed input becomes ``BadLine`` and is
  counted; only a failed ``authorize`` ends the link (the spec says disconnect).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import deque
from collections.abc import Callable, Mapping

from race_control.timing.protocols.chronotrack_time import pc_clock
from race_control.timing.protocols.ctp01_auth import auth_matches, offered_seed
from race_control.timing.protocols.ctp01_lines import DATA_FORMAT, field_ok, parse_data_line, uint
from race_control.timing.protocols.ctp01_pull import PullPoller, PullRequest
from race_control.timing.protocols.ctp01_settings import (
    Ctp01Config,
    Ctp01ConfigError,
    Ctp01Error,
    Ctp01StateError,
)
from race_control.timing.protocols.events import (
    Authenticated,
    AuthenticationFailed,
    ConnectionIdentified,
    EventInfo,
    Greeting,
    Locations,
    NewLocation,
    PingAnswered,
    TimingEvent,
)
from race_control.timing.protocols.line_link import LineLink, load_zone

__all__ = ["Ctp01Server"]

_PROTOCOL = re.compile(r"CTP\d+", re.IGNORECASE)
_MAX_PENDING_PINGS = 16


class Ctp01Server(LineLink):
    """One CTP01 connection, server side.  Feed bytes in, send ``data_to_send()`` out.

    ``phase``: ``greeting`` → ``auth`` (if requested) → ``ready`` → ``closed``.
    """

    _config_error = Ctp01ConfigError

    def __init__(self, config: Ctp01Config, *, seed: str | None = None, now: float = 0.0) -> None:
        config.validate()
        super().__init__()
        self.config = config
        self._tz = load_zone(config.timezone, Ctp01ConfigError)
        self._reference_date = config.reference_date or dt.datetime.fromtimestamp(now, self._tz).date()
        self._seed = offered_seed(config.authentication, seed)
        self._phase = "greeting"  # greeting -> auth -> ready -> closed
        self._created = now
        self._last_rx = now
        self._greeting: Greeting | None = None
        self._user: str | None = None
        self._connid_failed = False
        self._eventinfo_done = False
        self._event_info: EventInfo | None = None
        self._locations: list[str] = []
        self._started: set[str] = set()
        self._stopped: set[str] = set()  # explicitly stopped: not auto-started again
        self._last_seq: dict[str, int] = {}
        self._streaming = False
        self._pings: deque[float] = deque(maxlen=_MAX_PENDING_PINGS)
        self._next_ping = self._next_locations_poll = now
        self._pull = PullPoller(config, now)

    # ------------------------------------------------------------------ read-only state
    @property
    def greeting(self) -> Greeting | None:
        return self._greeting

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
    def seed(self) -> str | None:
        """The authentication seed offered to the client (None without hmac/seed auth)."""
        return self._seed

    @property
    def user(self) -> str | None:
        return self._user

    # ------------------------------------------------------------------ public API
    def receive_data(self, data: bytes, now: float) -> list[TimingEvent]:
        """Consume inbound bytes; every line yields ``RawLine`` first, then derived events."""
        events: list[TimingEvent] = []
        if self._phase == "closed":
            return events
        if data:
            self._last_rx = now
        self._feed(data, now, events)
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
        if not field_ok(location):
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
        if location is not None and not field_ok(location):
            raise Ctp01Error(f"invalid location name {location!r}")
        targets = set(self._locations) | self._started if location is None else {location}
        self._stopped |= targets
        self._started -= targets
        if self.config.stream_mode == "push":
            self._send("stop" if location is None else f"stop~{location}")

    def _stored_form(self, line: str) -> str:
        """``authorize~user~<secret>`` is stored and logged as ``authorize~user~***``: a password
        is never kept.  Applied to each framed line (so a line split across packets is redacted
        whole), matched as ``_handle`` reads a command (any case, surrounding blanks)."""
        command, sep, rest = line.partition("~")
        if sep and command.strip().lower() == "authorize":
            user, has_secret, _secret = rest.partition("~")
            # no second field: the one there may be a password sent without its user
            return f"{command}~{user}~***" if has_secret else f"{command}~***"
        return line

    def tick(self, now: float) -> list[TimingEvent]:
        """Time-driven work: dead-link and handshake timeouts, pings, pull polling."""
        events: list[TimingEvent] = []
        if self._phase == "closed":
            return events
        cfg = self.config
        handshaking = self._connection_id is None
        if self._timed_out(
            now, events, peer="client", handshaking=handshaking, handshake_step="handshake not completed"
        ):
            return events
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
                line = self._pull.next_request(now, [loc for loc in self._locations if loc in self._started])
                if line:
                    self._send(line)
        return events

    # ------------------------------------------------------------------ internals
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
        is_data = bool(DATA_FORMAT.fullmatch(fields[0]))
        if self._pull.remaining and not is_data:
            self._bad(events, raw, f"getdata reply cut short: {self._pull.remaining} data line(s) missing")
            self._pull.finish(now)
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
        settings = cfg.request_lines(self._seed)
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
            match = auth_matches(method, password or "", self._seed or "", fields[2])
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
            count = uint(args[0]) if len(args) == 1 else None
            if count is None:
                self._bad(events, raw, "ack~getdata needs one item count")
                self._pull.finish(now)
                return
            self._pull.reply_announced(count, now)
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
            self._pull.finish(now)
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
        in_reply, request = self._pull.reply_line()
        # the PC's clock is worked out only for a bare time of day (midnight races)
        self._parse_data(raw, fields, events, request, lambda: pc_clock(now, self._tz, self._reference_date))
        if in_reply and not self._pull.remaining:
            self._pull.finish(now)

    def _parse_data(
        self,
        raw: str,
        fields: list[str],
        events: list[TimingEvent],
        request: PullRequest | None,
        near: Callable[[], float],
    ) -> None:
        event = parse_data_line(
            raw,
            fields,
            time_format=self.config.time_format,
            tz=self._tz,
            reference_date=self._reference_date,
            near=near,  # a time of day lands on the day nearest the PC's clock (midnight races)
        )
        if isinstance(event, str):
            self._bad(events, raw, event)
            return
        loc, seq = event.location, event.seq
        if isinstance(event, NewLocation):
            # its seq is not a read of that location: never a resume cursor
            events.append(event)
            self._learn_location(loc)
            return
        self._pull.observe(loc, seq, request)
        events.append(event)
        self._last_seq[loc] = max(self._last_seq.get(loc, 0), seq)
        if loc not in self._locations:
            self._locations.append(loc)  # the client is evidently sending it: known, not (re)started

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
            self._pull.resume(loc, seq)
        else:
            self._send(f"start~{loc}~{seq}" if seq else f"start~{loc}")
