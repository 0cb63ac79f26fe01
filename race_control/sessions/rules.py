"""Crossing rules of one display session: validated data, stored as JSON with the session.

Every rule is explicit and visible to the operator; defaults are what a finish-line
display wants.  Validation names the offending field, so a bad API call changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from race_control.sessions.errors import SessionInputError
from race_control.timing.protocols.chronotrack_time import TimeFormatError, parse_ct_time

# ChronoTrack's built-in test tags read constantly at every mat (docs/protocols/controller-files.md#test-tags)
CHRONOTRACK_TEST_TAGS = ("99995", "99996", "99997", "99998")
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class LineMap:
    """Physical (location, reader id, gator) → logical line; empty reader/gator match any."""

    location: str
    line: str
    reader_id: str = ""
    gator: int | None = None

    def matches(self, location: str, reader_id: str, gator: int) -> bool:
        return (
            location == self.location
            and (not self.reader_id or self.reader_id.upper() == reader_id.upper())
            and (self.gator is None or self.gator == gator)
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"location": self.location, "line": self.line}
        if self.reader_id:
            out["reader_id"] = self.reader_id
        if self.gator is not None:
            out["gator"] = self.gator
        return out


@dataclass(frozen=True, slots=True)
class CrossingRules:
    locations: tuple[str, ...] = ()  # logical lines shown; empty: every line
    duplicate_window: float = 30.0  # one crossing per bib per line within it
    ignore_tags: tuple[str, ...] = CHRONOTRACK_TEST_TAGS
    # a bib's first read on one of these lines starts its chip time (a shared start/finish
    # mat works: list it in both `locations` and `start_locations`)
    start_locations: tuple[str, ...] = ()
    min_time_since_start: float = 0.0  # a read this soon after the bib's start (or gun) is no finish
    lines: tuple[LineMap, ...] = ()  # backup mats/readers → one logical line
    stray_after: float = 60.0  # a tag read without a pause for this long is parked (0 = off)
    stray_gap: float = 10.0  # a pause longer than this ends a continuous run
    waves: tuple[tuple[str, float], ...] = ()  # wave name → gun clock set by hand

    def line_of(self, location: str, reader_id: str, gator: int) -> str:
        for m in self.lines:
            if m.matches(location, reader_id, gator):
                return m.line
        return location

    def wave_gun(self, wave: str) -> float | None:
        for name, clock in self.waves:
            if name == wave:
                return clock
        return None

    @classmethod
    def from_json(cls, data: object, *, default_window: float = 30.0) -> CrossingRules:
        if data is None:
            return cls(duplicate_window=default_window)
        if not isinstance(data, dict):
            raise SessionInputError("'rules' must be an object")
        unknown = set(data) - set(cls.__slots__)
        if unknown:
            raise SessionInputError(f"unknown rule(s): {', '.join(sorted(unknown))}")
        return cls(
            locations=_names(data, "locations", ()),
            duplicate_window=_seconds(data, "duplicate_window", default_window),
            ignore_tags=_names(data, "ignore_tags", CHRONOTRACK_TEST_TAGS),
            start_locations=_names(data, "start_locations", ()),
            min_time_since_start=_seconds(data, "min_time_since_start", 0.0),
            lines=_lines(data.get("lines", [])),
            stray_after=_seconds(data, "stray_after", 60.0),
            stray_gap=_seconds(data, "stray_gap", 10.0),
            waves=_waves(data.get("waves", {})),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "locations": list(self.locations),
            "duplicate_window": self.duplicate_window,
            "ignore_tags": list(self.ignore_tags),
            "start_locations": list(self.start_locations),
            "min_time_since_start": self.min_time_since_start,
            "lines": [m.to_json() for m in self.lines],
            "stray_after": self.stray_after,
            "stray_gap": self.stray_gap,
            "waves": {name: _clock_text(c) for name, c in self.waves},
        }


def _names(data: dict[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = data.get(key, default)
    if not isinstance(value, list | tuple) or not all(isinstance(x, str) and x for x in value):
        raise SessionInputError(f"'rules.{key}' must be a list of non-empty strings")
    return tuple(value)


def _seconds(data: dict[str, Any], key: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= DAY:
        raise SessionInputError(f"'rules.{key}' must be a number of seconds between 0 and 86400")
    return float(value)


def _lines(value: object) -> tuple[LineMap, ...]:
    if not isinstance(value, list):
        raise SessionInputError("'rules.lines' must be a list of {location, line, reader_id?, gator?}")
    out = []
    for i, item in enumerate(value):
        where = f"'rules.lines[{i}]'"
        if not isinstance(item, dict) or set(item) - {"location", "line", "reader_id", "gator"}:
            raise SessionInputError(f"{where} must be an object with location, line, reader_id?, gator?")
        loc, line, reader = item.get("location"), item.get("line"), item.get("reader_id", "")
        gator = item.get("gator")
        if not isinstance(loc, str) or not loc or not isinstance(line, str) or not line:
            raise SessionInputError(f"{where} needs non-empty 'location' and 'line'")
        if not isinstance(reader, str) or (
            gator is not None and (isinstance(gator, bool) or not isinstance(gator, int))
        ):
            raise SessionInputError(f"{where}: 'reader_id' must be text and 'gator' a whole number")
        out.append(LineMap(loc, line, reader, gator))
    return tuple(out)


def _waves(value: object) -> tuple[tuple[str, float], ...]:
    if not isinstance(value, dict):
        raise SessionInputError("'rules.waves' must be an object of wave name → gun time (HH:MM:SS.hh)")
    out = []
    for name, text in value.items():
        if not isinstance(text, str):
            raise SessionInputError(f"'rules.waves.{name}' must be a time of day like 08:00:55.16")
        try:
            clock = parse_ct_time(text, "normal", reference_date=dt.date(2000, 1, 1), tz=ZoneInfo("UTC"))
        except TimeFormatError as exc:
            raise SessionInputError(f"'rules.waves.{name}': {exc}") from None
        out.append((name, clock))
    return tuple(out)


def _clock_text(clock: float) -> str:
    centis = round(clock * 100)
    h, rem = divmod(centis, 360000)
    m, rem = divmod(rem, 6000)
    s, c = divmod(rem, 100)
    return f"{h:02d}:{m:02d}:{s:02d}.{c:02d}"
