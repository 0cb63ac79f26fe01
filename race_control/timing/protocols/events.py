"""Protocol-neutral events that every timing protocol state machine emits.

The sans-IO protocol objects (``ctp01.Ctp01Server``, the RACE RESULT client, the
controller-file importer) turn bytes into these; the asyncio transports store and
dispatch them.  Nothing here touches a socket, a clock or the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TagRead:
    """One tag observation (a chip read) as the source reported it.

    ``seq`` is the source's own sequence number for ``location`` (CTP01 field 1);
    ``(stream, location, seq)`` identifies the read, so a resent read is a no-op.
    ``time_text`` is kept verbatim; ``clock`` is seconds on the source's clock
    axis: seconds since local midnight of the stream's reference day for
    ``normal``/``msecs``/``iso`` times (may exceed 86400), or Unix epoch seconds
    converted the same way for ``unix`` times.
    """

    location: str
    seq: int
    tag: str
    time_text: str
    clock: float
    lap: int = 0
    reader_id: str = ""
    gator: int = 0
    line: str = ""


@dataclass(frozen=True, slots=True)
class GunTime:
    """A gun start reported in-band (CTP01 ``guntime`` tag, ``.mrk`` Gun marker)."""

    location: str
    seq: int
    time_text: str
    clock: float
    reader_id: str = ""
    line: str = ""


@dataclass(frozen=True, slots=True)
class NewLocation:
    """The source announced a timing location (CTP01 ``newlocation``)."""

    location: str
    seq: int = 0
    line: str = ""


@dataclass(frozen=True, slots=True)
class Greeting:
    """The client identified itself (CTP01 ``<program>~<version>~<protocol>``)."""

    program: str
    version: str
    protocol: str


@dataclass(frozen=True, slots=True)
class Authenticated:
    user: str


@dataclass(frozen=True, slots=True)
class AuthenticationFailed:
    user: str
    reason: str


@dataclass(frozen=True, slots=True)
class EventInfo:
    name: str
    event_id: str
    description: str


@dataclass(frozen=True, slots=True)
class Locations:
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ConnectionIdentified:
    """The client told us its connection id (or we fell back to a derived one).

    The transport must answer by calling the protocol's ``begin_streaming`` with
    the last stored sequence per location for this id, so streaming resumes.
    """

    connection_id: str
    from_client: bool = True


@dataclass(frozen=True, slots=True)
class PingAnswered:
    """The client acknowledged our ping (round trip in seconds)."""

    rtt: float


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that could not be understood.  Counted and logged, never fatal."""

    line: str
    reason: str


@dataclass(frozen=True, slots=True)
class LinkDead:
    """No traffic for too long (or the peer broke the protocol): close the link."""

    reason: str


@dataclass(frozen=True, slots=True)
class RawLine:
    """Every inbound line, emitted before anything derived from it (store it first)."""

    line: str


@dataclass(slots=True)
class StreamSettings:
    """Per-source interpretation settings shared by all protocols."""

    timezone: str = "UTC"
    reference_date: str = ""  # YYYY-MM-DD; "" = date of first connection
    extra: dict[str, str] = field(default_factory=dict)


TimingEvent = (
    TagRead
    | GunTime
    | NewLocation
    | Greeting
    | Authenticated
    | AuthenticationFailed
    | EventInfo
    | Locations
    | ConnectionIdentified
    | PingAnswered
    | BadLine
    | LinkDead
    | RawLine
)
