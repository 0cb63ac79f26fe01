"""A read as stored and dispatched: the one shape the crossing engine sees.

Every protocol (CTP01 live, RACE RESULT, imported controller files) ends up as
``StoredRead`` rows keyed by (stream_id, location, seq), so the crossing engine
and the displays never special-case a protocol.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoredRead:
    stream_id: str
    location: str
    seq: int
    kind: str  # "tag" | "gun"
    tag: str
    bib: str  # normalized tag ("" for gun times)
    time_text: str
    clock: float  # seconds on the source's axis (see timing.events.TagRead)
    lap: int
    reader_id: str
    gator: int
    raw_n: int
    received_at: float  # epoch seconds when the line arrived (latency is measured from here)


class SeqTracker:
    """Which source sequence numbers of one (stream, location) are already stored.

    A contiguous watermark plus the set of numbers seen above it, so memory stays
    small for the normal in-order stream while gaps and resends are still exact.
    """

    __slots__ = ("above", "low")

    def __init__(self) -> None:
        self.low = 0
        self.above: set[int] = set()

    def add(self, seq: int) -> bool:
        """Record ``seq``; False if it was already there (a resend)."""
        if seq <= self.low or seq in self.above:
            return False
        if seq == self.low + 1:
            self.low = seq
            while self.low + 1 in self.above:
                self.low += 1
                self.above.discard(self.low)
        else:
            self.above.add(seq)
        return True

    def has(self, seq: int) -> bool:
        return seq <= self.low or seq in self.above

    @property
    def last(self) -> int:
        """The highest sequence stored (the resume point)."""
        return max(self.above) if self.above else self.low
