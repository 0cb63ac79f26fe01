"""The crossing engine: turns stored reads into crossings by explicit per-session rules.

Pure and deterministic (no I/O, no clock): feed it the same reads in the same order
and it makes the same decisions, so a session can be re-run over the stored reads
when a rule changes.  Every read it does not turn into a crossing comes back as a
``Suppressed`` with a reason an operator can read.
"""

from __future__ import annotations

import bisect
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
    # a bib's first read at one of these starts its chip time (shared start/finish mats work:
    # list the mat in both `locations` and `start_locations`)
    start_locations: tuple[str, ...] = ()
    # a read this soon after the bib's own start (or the gun, without one) is not a finish
    min_time_since_start: float = 0.0

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
        starts = data.get("start_locations", ())
        if not isinstance(starts, list | tuple) or not all(isinstance(x, str) for x in starts):
            raise InputError("'rules.start_locations' must be a list of location names")
        min_start = data.get("min_time_since_start", 0.0)
        if (
            isinstance(min_start, bool)
            or not isinstance(min_start, int | float)
            or not 0 <= min_start <= 86400
        ):
            raise InputError("'rules.min_time_since_start' must be a number of seconds between 0 and 86400")
        return cls(tuple(locations), float(window), tuple(ignore), tuple(starts), float(min_start))

    def to_json(self) -> dict[str, Any]:
        return {
            "locations": list(self.locations),
            "duplicate_window": self.duplicate_window,
            "ignore_tags": list(self.ignore_tags),
            "start_locations": list(self.start_locations),
            "min_time_since_start": self.min_time_since_start,
        }


@dataclass(frozen=True, slots=True)
class Crossing:
    read: StoredRead
    elapsed: float | None  # the time to show: chip time if the bib's start is known, else gun time
    chip_time: float | None = None  # read - the bib's own start crossing
    gun_time: float | None = None  # read - the latest gun at or before the bib's start (its wave)


@dataclass(frozen=True, slots=True)
class Suppressed:
    read: StoredRead
    reason: str


@dataclass
class CrossingEngine:
    rules: CrossingRules
    _last: dict[tuple[str, str], float] = field(default_factory=dict)  # (bib, location) -> clock
    _guns: dict[str, list[float]] = field(default_factory=dict)  # stream -> gun clocks (sorted)
    _starts: dict[str, float] = field(default_factory=dict)  # bib -> its start crossing clock

    def process(self, read: StoredRead) -> Crossing | Suppressed | None:
        """Decide one read.  Gun times update state and return None."""
        if read.kind == "gun":
            guns = self._guns.setdefault(read.stream_id, [])
            guns.append(read.clock)
            guns.sort()
            return None
        rules = self.rules
        is_start = read.location in rules.start_locations
        if rules.locations and read.location not in rules.locations and not is_start:
            return Suppressed(read, f"location {read.location} is not shown by this session")
        if read.bib in rules.ignore_tags:
            return Suppressed(read, f"tag {read.bib} is an ignored test tag")
        start = self._starts.get(read.bib)
        if is_start and (
            (start is None and not self._too_late_to_start(read)) or self._restarted(read, start)
        ):
            # the first read at a start mat starts the bib's chip time; on a shared start/finish
            # mat later reads fall through to the finish rules below
            self._starts[read.bib] = read.clock
            return Suppressed(read, f"start: bib {read.bib} started at {read.location}")
        if rules.locations and read.location not in rules.locations:
            return Suppressed(read, f"start mat re-read: bib {read.bib} at {read.location}")
        since = read.clock - start if start is not None else self._since_gun(read)
        if since is not None and since < rules.min_time_since_start:
            what = "its start" if start is not None else "the gun"
            return Suppressed(
                read,
                f"too soon: bib {read.bib} at {read.location} {since:.1f} s after {what} "
                f"(minimum {rules.min_time_since_start:g} s)",
            )
        key = (read.bib, read.location)
        last = self._last.get(key)
        if last is not None and abs(read.clock - last) < rules.duplicate_window:
            return Suppressed(
                read,
                f"duplicate: bib {read.bib} already crossed {read.location} "
                f"{abs(read.clock - last):.1f} s earlier (window {rules.duplicate_window:g} s)",
            )
        self._last[key] = read.clock
        gun = self._gun_before(read.stream_id, start if start is not None else read.clock)
        gun_time = read.clock - gun if gun is not None else None
        chip_time = read.clock - start if start is not None else None
        return Crossing(read, chip_time if chip_time is not None else gun_time, chip_time, gun_time)

    def _gun_before(self, stream_id: str, clock: float) -> float | None:
        guns = self._guns.get(stream_id)
        if not guns:
            return None
        i = bisect.bisect_right(guns, clock)
        return guns[i - 1] if i else None

    def _since_gun(self, read: StoredRead) -> float | None:
        gun = self._gun_before(read.stream_id, read.clock)
        return read.clock - gun if gun is not None else None

    def _too_late_to_start(self, read: StoredRead) -> bool:
        """On a shared mat, a bib first seen long after the latest gun missed the start mat:
        this read is its finish (shown with gun time), not its start."""
        if self.rules.locations and read.location not in self.rules.locations:
            return False
        since = self._since_gun(read)
        return (
            since is not None
            and self.rules.min_time_since_start > 0
            and since >= self.rules.min_time_since_start
        )

    def _restarted(self, read: StoredRead, start: float | None) -> bool:
        """Read at the start mat soon after a gun that fired after the bib's recorded start:
        the runner crossed the mat early (walking to a later wave's corral) and starts now."""
        if start is None:
            return False
        gun = self._gun_before(read.stream_id, read.clock)
        window = self.rules.min_time_since_start or self.rules.duplicate_window
        return gun is not None and gun > start and read.clock - gun < window
