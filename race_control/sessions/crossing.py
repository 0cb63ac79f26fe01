"""The crossing engine: turns stored reads into crossings by a session's explicit rules.

Pure and deterministic (no I/O, no clock): feed it the same reads in the same order
and it makes the same decisions, so a session is re-run over the stored reads when a
rule changes.  Every read it does not turn into a crossing comes back as a
``Suppressed`` with a stable ``code`` (what analytics count) and a reason an operator
can read (what the logs show; its wording may change).  Decisions are per *logical line*
(backup mats and second readers map onto one line, so they count once).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from race_control.sessions.rules import CHRONOTRACK_TEST_TAGS, CrossingRules
from race_control.timing.ingest.stored_read import StoredRead

__all__ = [
    "CHRONOTRACK_TEST_TAGS",
    "SUPPRESSION_LABELS",
    "Crossing",
    "CrossingEngine",
    "CrossingRules",
    "Suppressed",
]

# code → short label for charts.  Codes are stored with each suppression and are an API
# value: add new ones, never rename (migration 0005 back-fills them from the old texts).
SUPPRESSION_LABELS = {
    "location_filtered": "location not shown",
    "ignored_tag": "ignored test tag",
    "stray": "stray (parked) tag",
    "start": "start crossing",
    "start_reread": "start mat re-read",
    "too_soon": "too soon after start or gun",
    "duplicate": "duplicate",
}


@dataclass(frozen=True, slots=True)
class Crossing:
    read: StoredRead
    elapsed: float | None  # the time to show: chip time if the bib's start is known, else gun time
    chip_time: float | None = None  # read - the bib's own start crossing
    gun_time: float | None = None  # read - its wave's gun (by hand) or the stream's gun before its start
    line: str = ""  # the logical line crossed


@dataclass(frozen=True, slots=True)
class Suppressed:
    read: StoredRead
    code: str  # a key of SUPPRESSION_LABELS: stable, for counting
    reason: str  # for people: names the bib, the line and the numbers


def location_filtered(rules: CrossingRules, line: str) -> str:
    """The reason a read on logical ``line`` is not for this session at all (a location it does
    not show, not a start mat), else "".  A pure function of the rules and the read: such
    decisions are not stored per session but recomputed (``sessions.queries.filtered_reads``)."""
    if rules.locations and line not in rules.locations and line not in rules.start_locations:
        return f"location {line} is not shown by this session"
    return ""


def _no_wave(_bib: str) -> str:
    return ""


@dataclass
class CrossingEngine:
    rules: CrossingRules
    wave_of: Callable[[str], str] = _no_wave  # bib → wave name, from the roster
    _last: dict[tuple[str, str], float] = field(default_factory=dict)  # (bib, line) -> accepted clock
    _runs: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)  # -> (first, last seen)
    _guns: dict[str, list[float]] = field(default_factory=dict)  # stream -> gun clocks (sorted)
    _starts: dict[str, float] = field(default_factory=dict)  # bib -> its start crossing clock

    @property
    def guns(self) -> dict[str, list[float]]:
        """Gun clocks per stream (sorted); read-only view for the race clock."""
        return self._guns

    def state(self) -> tuple[dict[Any, Any], ...]:
        """What the reads decided so far left behind (guns, accepted clocks, runs, starts): two
        engines with the same rules and equal state decide every further read alike."""
        return self._guns, self._last, self._runs, self._starts

    def copy(self, wave_of: Callable[[str], str]) -> CrossingEngine:
        """An engine in this one's state that nobody else holds (a session leaving a shared one).
        Shallow: the values are immutable (floats, tuples) except the gun lists, copied too."""
        return CrossingEngine(
            self.rules,
            wave_of,
            dict(self._last),
            dict(self._runs),
            {k: list(v) for k, v in self._guns.items()},
            dict(self._starts),
        )

    def process(self, read: StoredRead) -> Crossing | Suppressed | None:
        """Decide one read.  Gun times update state and return None."""
        if read.kind == "gun":
            bisect.insort(self._guns.setdefault(read.stream_id, []), read.clock)
            return None
        rules = self.rules
        line = rules.line_of(read.location, read.reader_id, read.gator)
        is_start = line in rules.start_locations
        filtered = location_filtered(rules, line)
        if filtered:
            return Suppressed(read, "location_filtered", filtered)
        if read.bib in rules.ignore_tags:
            return Suppressed(read, "ignored_tag", f"tag {read.bib} is an ignored test tag")
        parked = self._parked(read, line)
        if parked:
            return Suppressed(read, "stray", parked)
        start = self._starts.get(read.bib)
        if is_start and (
            (start is None and not self._too_late_to_start(read, line)) or self._restarted(read, start)
        ):
            # the first read at a start mat starts the bib's chip time; on a shared start/finish
            # mat later reads fall through to the finish rules below
            self._starts[read.bib] = read.clock
            return Suppressed(read, "start", f"start: bib {read.bib} started at {line}")
        if rules.locations and line not in rules.locations:
            return Suppressed(read, "start_reread", f"start mat re-read: bib {read.bib} at {line}")
        since = read.clock - start if start is not None else self._since_gun(read)
        if since is not None and since < rules.min_time_since_start:
            what = "its start" if start is not None else "the gun"
            return Suppressed(
                read,
                "too_soon",
                f"too soon: bib {read.bib} at {line} {since:.1f} s after {what} "
                f"(minimum {rules.min_time_since_start:g} s)",
            )
        key = (read.bib, line)
        last = self._last.get(key)
        if last is not None and abs(read.clock - last) < rules.duplicate_window:
            return Suppressed(
                read,
                "duplicate",
                f"duplicate: bib {read.bib} already crossed {line} "
                f"{abs(read.clock - last):.1f} s earlier (window {rules.duplicate_window:g} s)",
            )
        self._last[key] = read.clock
        gun = self._gun_for(read, start)
        gun_time = read.clock - gun if gun is not None else None
        chip_time = read.clock - start if start is not None else None
        return Crossing(read, chip_time if chip_time is not None else gun_time, chip_time, gun_time, line)

    def _parked(self, read: StoredRead, line: str) -> str:
        """A tag read without pause for ``stray_after`` s is parked near the mat (a volunteer's
        bib, a bag of tags): its reads are suppressed until it leaves."""
        rules = self.rules
        if rules.stray_after <= 0:
            return ""
        key = (read.bib, line)
        first, last = self._runs.get(key, (read.clock, read.clock))
        if read.clock - last > rules.stray_gap or read.clock < last:
            first = read.clock
        self._runs[key] = (first, read.clock)
        if read.clock - first >= rules.stray_after:
            return f"stray: tag {read.bib} read without a pause at {line} for {read.clock - first:.0f} s"
        return ""

    def _gun_for(self, read: StoredRead, start: float | None) -> float | None:
        wave = self.wave_of(read.bib)
        if wave:
            manual = self.rules.wave_gun(wave)
            if manual is not None:
                return manual
        return self._gun_before(read.stream_id, start if start is not None else read.clock)

    def _gun_before(self, stream_id: str, clock: float) -> float | None:
        guns = self._guns.get(stream_id)
        if not guns:
            return None
        i = bisect.bisect_right(guns, clock)
        return guns[i - 1] if i else None

    def _since_gun(self, read: StoredRead) -> float | None:
        gun = self._gun_for(read, None)
        return read.clock - gun if gun is not None else None

    def _too_late_to_start(self, read: StoredRead, line: str) -> bool:
        """On a shared mat, a bib first seen long after the latest gun missed the start mat:
        this read is its finish (shown with gun time), not its start."""
        if self.rules.locations and line not in self.rules.locations:
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
