"""The replay client's numbered observations, kept across connections so a server can resume.

A real ChronoTrack client numbers each location's observations 1..n and keeps
them when the link drops; after a reconnect the server asks for
``start~<loc>~<seq>`` (push) or ``getdata~N~<loc>~<seq>`` (pull) and gets exactly
what it missed.  ``ObservationLog`` is that store for ``ctp01_client.Ctp01Client``:
it outlives any one connection, numbers gun times like reads (whether or not a
connection wants them), and refuses a field that could not go on a CT01_33 line,
so bad input fails when it is added rather than on the wire.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from race_control.timing.protocols.ctp01_lines import check_location, check_observation

__all__ = ["Observation", "ObservationLog"]


@dataclass(frozen=True, slots=True)
class Observation:
    """One numbered entry of a location's stream (a tag read or a ``guntime``)."""

    location: str
    seq: int
    tag: str
    time: str | dt.datetime  # text is sent verbatim; a datetime is rendered in the negotiated format
    lap: int
    reader_id: str
    gator: int
    order: int  # position in the whole log, for merged pull replies

    @property
    def is_gun(self) -> bool:
        return self.tag == "guntime"


class ObservationLog:
    """Per-location numbered observations, shared by successive connections (resume needs it)."""

    def __init__(self) -> None:
        self.locations: list[str] = []
        self._by_location: dict[str, list[Observation]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add_location(self, location: str) -> bool:
        """Register a location (no data yet); True if it is new."""
        check_location(location)
        if location in self._by_location:
            return False
        self.locations.append(location)
        self._by_location[location] = []
        return True

    def add(
        self,
        location: str,
        tag: str,
        time: str | dt.datetime,
        lap: int = 0,
        reader_id: str = "",
        gator: int = 0,
    ) -> Observation:
        check_observation(location, tag, time, lap, reader_id, gator)
        self.add_location(location)
        items = self._by_location[location]
        obs = Observation(location, len(items) + 1, tag, time, lap, reader_id, gator, self._count)
        items.append(obs)
        self._count += 1
        return obs

    def records(self, location: str, from_seq: int = 1) -> list[Observation]:
        items = self._by_location.get(location, [])
        return items[max(from_seq, 1) - 1 :]

    def last_seq(self, location: str) -> int:
        return len(self._by_location.get(location, []))
