"""The crossing engine: turns stored reads into crossings by explicit per-session rules.

Pure and deterministic (no I/O, no clock): feed it the same reads in the same order
and it makes the same decisions, so a session can be re-run over the stored reads
when a rule changes.  Every read it does not turn into a crossing comes back as a
``Suppressed`` with a reason an operator can read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from race_control.errors import InputError
from race_control.timing.records import StoredRead

# ChronoTrack's built-in test tags read constantly at every mat (timing-protocols.md §1.9)
CHRONOTRACK_TEST_TAGS = ("99995", "99996", "99997", "99998")


@dataclass(frozen=True, slots=True)
class CrossingRules:
    locations: tuple[str, ...] = ()  # empty: every location
    duplicate_window: float = 30.0  # seconds: one crossing per bib per location within it
    ignore_tags: tuple[str, ...] = CHRONOTRACK_TEST_TAGS

    @classmethod
    def from_json(cls, data: object, *, default_window: float = 30.0) -> CrossingRules:
        if data is None:
            return cls(duplicate_window=default_window)
        if not isinstance(data, dict):
            raise InputError("'rules' must be an object")
        locations = data.get("locations", ())
        if not isinstance(locations, list | tuple) or not all(isinstance(x, str) for x in locations):
            raise InputError("'rules.locations' must be a list of location names")
        window = data.get("duplicate_window", default_window)
        if isinstance(window, bool) or not isinstance(window, int | float) or not 0 <= window <= 86400:
            raise InputError("'rules.duplicate_window' must be a number of seconds between 0 and 86400")
        ignore = data.get("ignore_tags", list(CHRONOTRACK_TEST_TAGS))
        if not isinstance(ignore, list | tuple) or not all(isinstance(x, str) for x in ignore):
            raise InputError("'rules.ignore_tags' must be a list of tags")
        return cls(tuple(locations), float(window), tuple(ignore))

    def to_json(self) -> dict[str, Any]:
        return {
            "locations": list(self.locations),
            "duplicate_window": self.duplicate_window,
            "ignore_tags": list(self.ignore_tags),
        }


@dataclass(frozen=True, slots=True)
class Crossing:
    read: StoredRead
    elapsed: float | None  # seconds since the stream's latest gun before the read, if any


@dataclass(frozen=True, slots=True)
class Suppressed:
    read: StoredRead
    reason: str


@dataclass
class CrossingEngine:
    rules: CrossingRules
    _last: dict[tuple[str, str], float] = field(default_factory=dict)  # (bib, location) -> clock
    _guns: dict[str, list[float]] = field(default_factory=dict)  # stream -> gun clocks (sorted)

    def process(self, read: StoredRead) -> Crossing | Suppressed | None:
        """Decide one read.  Gun times update state and return None."""
        if read.kind == "gun":
            guns = self._guns.setdefault(read.stream_id, [])
            guns.append(read.clock)
            guns.sort()
            return None
        rules = self.rules
        if rules.locations and read.location not in rules.locations:
            return Suppressed(read, f"location {read.location} is not shown by this session")
        if read.bib in rules.ignore_tags:
            return Suppressed(read, f"tag {read.bib} is an ignored test tag")
        key = (read.bib, read.location)
        last = self._last.get(key)
        if last is not None and abs(read.clock - last) < rules.duplicate_window:
            return Suppressed(
                read,
                f"duplicate: bib {read.bib} already crossed {read.location} "
                f"{abs(read.clock - last):.1f} s earlier (window {rules.duplicate_window:g} s)",
            )
        self._last[key] = read.clock
        return Crossing(read, self._elapsed(read))

    def _elapsed(self, read: StoredRead) -> float | None:
        guns = self._guns.get(read.stream_id)
        if not guns:
            return None
        before = [g for g in guns if g <= read.clock]
        return read.clock - before[-1] if before else None
