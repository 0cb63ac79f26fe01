"""CTP01 settings: the ``key=value`` requests a server sends after the greeting, and our config.

Right after ``<name>~<version>~N`` the server sends N ``key=value`` lines
(docs/protocols/ctp01.md#settings); a setting left out means the spec's default
(``DEFAULT_SETTINGS``).  ``SETTING_CHOICES`` is the one list of legal values:
``Ctp01Config.validate`` checks our own server's config against it so we never
request a value a client must reject, and the replay client checks incoming
requests against it.  Every value here goes on the wire verbatim, which is why
the config refuses anything that could not (see ``validate``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from race_control import __version__
from race_control.timing.protocols.chronotrack_time import TIME_FORMATS
from race_control.timing.protocols.ctp01_lines import TAGEVENT_FORMAT, TAGEVENT_FORMATS, field_ok
from race_control.timing.protocols.errors import TimingError, TimingInputError

__all__ = [
    "AUTH_METHODS",
    "DEFAULT_PORT",
    "DEFAULT_SETTINGS",
    "SEEDED_METHODS",
    "SETTING_CHOICES",
    "Ctp01Config",
    "Ctp01ConfigError",
    "Ctp01Error",
    "Ctp01StateError",
    "parse_setting",
]

DEFAULT_PORT = 61611
AUTH_METHODS = ("none", "plaintext", "hmac-sha1", "hmac-md5", "seed-sha1", "seed-md5")
SEEDED_METHODS = frozenset(AUTH_METHODS[2:])  # the methods that need an authentication-seed
_BOOLS = ("true", "false")
SETTING_CHOICES: dict[str, tuple[str, ...]] = {
    "location": ("single", "multi"),
    "guntimes": _BOOLS,
    "newlocations": _BOOLS,
    "authentication": AUTH_METHODS,
    "stream-mode": ("push", "pull"),
    "pushmode-ack": _BOOLS,
    "time-format": TIME_FORMATS,
    "connection-id": _BOOLS,
}
# the spec's defaults for settings a server does not send
DEFAULT_SETTINGS: dict[str, str] = {
    "location": "multi",
    "guntimes": "false",
    "newlocations": "false",
    "authentication": "none",
    "stream-mode": "pull",
    "tagevent-format": TAGEVENT_FORMAT,
    "pushmode-ack": "false",
    "time-format": "normal",
    "connection-id": "false",
}


def parse_setting(line: str) -> tuple[str, str] | str:
    """A ``key=value`` request line → (key, value) normalised, or why it is ignored.

    An ignored setting keeps its spec default, which is what a real client does
    with a value it does not support.
    """
    key, eq, value = line.partition("=")
    key, value = key.strip().lower(), value.strip()
    if not eq or not key:
        return "expected key=value"
    if key in SETTING_CHOICES:
        value = value.lower()
        if value not in SETTING_CHOICES[key]:
            return f"unsupported value for {key}; using {DEFAULT_SETTINGS[key]}"
    if key == "tagevent-format":
        value = value.upper()
        if not TAGEVENT_FORMATS.fullmatch(value):
            return f"unsupported tagevent-format; using {TAGEVENT_FORMAT}"
    return key, value


class Ctp01Error(TimingError):
    """Root of the CTP01 code's errors (raised for caller mistakes, never for client input)."""


class Ctp01ConfigError(Ctp01Error, TimingInputError):
    """The configuration (or seed) would make us send an invalid line (a ``ValueError`` too)."""


class Ctp01StateError(Ctp01Error):
    """A command was issued before the handshake allows it."""


def _bool(value: bool) -> str:
    return "true" if value else "false"


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
            "stream_mode": SETTING_CHOICES["stream-mode"],
            "location": SETTING_CHOICES["location"],
            "time_format": SETTING_CHOICES["time-format"],
            "authentication": SETTING_CHOICES["authentication"],
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise Ctp01ConfigError(f"{name}={getattr(self, name)!r}; expected one of {allowed}")
        for name in ("server_name", "server_version"):
            if not field_ok(getattr(self, name)):
                raise Ctp01ConfigError(f"{name} must be non-empty latin-1 text without '~' or line breaks")
        for name in ("ping_interval", "dead_after", "handshake_timeout", "locations_poll_interval"):
            if not getattr(self, name) > 0:
                raise Ctp01ConfigError(f"{name} must be > 0")
        if not self.pull_interval >= 0:
            raise Ctp01ConfigError("pull_interval must be >= 0")
        if not isinstance(self.pull_batch, int) or not 1 <= self.pull_batch <= 999999:
            raise Ctp01ConfigError("pull_batch must be an int in 1..999999")

    def request_lines(self, seed: str | None) -> list[str]:
        """The ``key=value`` lines sent after the greeting reply (``seed`` is offered for hmac/seed auth)."""
        settings = [
            f"location={self.location}",
            f"guntimes={_bool(self.guntimes)}",
            f"newlocations={_bool(self.newlocations)}",
            f"connection-id={_bool(self.connection_id)}",
            f"stream-mode={self.stream_mode}",
            f"time-format={self.time_format}",
            f"tagevent-format={TAGEVENT_FORMAT}",
            f"pushmode-ack={_bool(self.pushmode_ack)}",
            f"authentication={self.authentication}",
        ]
        if self.authentication in SEEDED_METHODS:
            settings.append(f"authentication-seed={seed}")
        return settings
