"""The one way a display session's derived state is built: replay its stored reads.

A ``LiveSession`` is its ``SessionRecord`` plus what follows from the reads of its
streams: the crossing engine (duplicate windows, starts, guns — so the race clock), the
ranking (places, leaderboards) and the finisher/suppressed counts.  ``replaying`` builds
a fresh session from a record and the reads in arrival order (``queries.stream_reads``),
so a session rebuilt at start-up and one rebuilt after a rule change, a bind or an
unbind hold exactly what a session that had decided those reads live would.  It is a
generator, so the service lets the loop run between its steps.

Two things come from the display events instead (what screens were actually sent):
the next seq and the bibs shown as "Bib N" not corrected yet; the caller passes them.

``shown`` decides what is announced: ``None`` announces nothing (start-up, unbind,
reopen); a set of ``(stream, location, read seq)`` announces every crossing not in it,
with new seqs (a rule change or bind shows what is newly a crossing; a new session
with streams passes an empty set).  Pure: the caller holds the sessions lock and,
after its unit of work commits, moves the rebuilt state into the session object
everyone holds (``adopt``).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field, fields
from itertools import islice
from typing import Any

from race_control.sessions.crossing import Crossing
from race_control.sessions.live import Derived, LiveSession, Lookup
from race_control.sessions.session_record import SessionRecord, new_live
from race_control.sessions.waiting import Waiting
from race_control.timing.ingest.stored_read import StoredRead

ReadKey = tuple[str, str, int]  # (stream, location, read seq): a read's identity


@dataclass
class Replayed:
    session: LiveSession
    derived: Derived  # announced display events, and (with ``log``) the whole suppression log
    crossings: set[ReadKey] = field(default_factory=set)  # reads that are crossings now


CHUNK = 2000  # reads decided between two yields of ``replaying`` (~25 ms of loop time)
SLICE_S = 0.008  # seconds of loop time a rebuild's slice takes before the loop runs again
STEP = 64  # reads decided between two looks at the clock (``Replay.feed_until``)


class Replay:
    """A rebuild fed a slice at a time: ``feed`` decides reads (in arrival order, across calls),
    ``done`` hands over the result.  ``replaying`` and the service's paged rebuild both use it, so
    a session rebuilt from one list and one rebuilt from pages of the store hold the same state.
    Pure, like ``replaying``: nothing outside the new session changes."""

    def __init__(
        self,
        rec: SessionRecord,
        lookup: Lookup,
        *,
        next_seq: int = 1,
        unknown: dict[str, list[Waiting]] | None = None,
        shown: set[ReadKey] | None = None,
        log: bool = True,
    ) -> None:
        s = new_live(rec, lookup)
        s.next_seq = next_seq
        s.unknown = {bib: list(payloads) for bib, payloads in (unknown or {}).items()}
        self.out = Replayed(s, Derived())
        self.deciding = rec.final_counts is None  # a closed session that kept its counts: nothing
        self._shown = shown
        self._log = log
        self._scratch = Derived()

    def feed(self, reads: Iterable[StoredRead]) -> None:
        """Decide ``reads``, after every read fed before."""
        if not self.deciding:
            return
        s, out, shown = self.out.session, self.out, self._shown
        into = out.derived if self._log else self._scratch
        for read in reads:
            key = (read.stream_id, read.location, read.seq)
            result = s.decide(read, into, announce=shown is not None and key not in shown)
            if isinstance(result, Crossing):
                out.crossings.add(key)
            self._scratch.suppressions.clear()

    def feed_until(self, reads: list[StoredRead], start: int, deadline: float) -> int:
        """Decide ``reads[start:]`` until ``deadline`` (``time.perf_counter``; looked at every
        ``STEP`` reads) or their end; returns the index to go on from.  A slice of loop time,
        not of reads: on a loaded machine a slice of a fixed count takes several times longer."""
        end = len(reads)
        while start < end:
            stop = min(start + STEP, end)
            self.feed(reads[start:stop])
            start = stop
            if time.perf_counter() >= deadline:
                break
        return start

    def done(self) -> Replayed:
        if self.deciding:
            # screens of a rebuilt session need its race clock and leaderboard again (next tick)
            s = self.out.session
            s.gun_dirty = s.board_dirty = True
        return self.out


def replaying(
    rec: SessionRecord,
    lookup: Lookup,
    reads: Iterable[StoredRead],
    *,
    next_seq: int = 1,
    unknown: dict[str, list[Waiting]] | None = None,
    shown: set[ReadKey] | None = None,
    log: bool = True,
) -> Generator[None, None, Replayed]:
    """A fresh session for ``rec`` that has decided ``reads`` (in the order given), as the
    generator's return value.  It yields after every ``CHUNK`` reads, so a caller on the event
    loop lets other work run between them (a long race has tens of thousands of reads).

    ``log=False`` keeps no suppression rows (start-up: they are stored already).  A closed
    session that kept its final counts decides nothing: it stopped deciding when it closed.
    Nothing outside the new session changes."""
    r = Replay(rec, lookup, next_seq=next_seq, unknown=unknown, shown=shown, log=log)
    if not r.deciding:
        return r.out
    it = iter(reads)
    while chunk := list(islice(it, CHUNK)):
        r.feed(chunk)
        if len(chunk) == CHUNK:
            yield
    return r.done()


def adopt(target: LiveSession, fresh: LiveSession) -> list[Any]:
    """Give ``target`` — the session object the indexes and every caller hold — the whole state
    of ``fresh``, a rebuild of it (after the rebuilding action committed).  Returns the big
    containers of the state it replaced that nothing else holds (its rankings, times, unknown
    bibs and, unless shared, its engine's dicts): a million-read session's, dropped here at
    once, were freed by reference counting in one go on the loop (~100 ms stalls of a rule
    change, issue #13); the caller frees them in slices (``heap.release_in_slices``)."""
    assert target.id == fresh.id
    old = [target._ranked, target._times, target._division_times, target.unknown, target.decided_to]
    if not target.engine_shared and target.engine is not fresh.engine:
        old.extend(target.engine.state())
    for f in fields(LiveSession):
        setattr(target, f.name, getattr(fresh, f.name))
    target.engine.wave_of = target._wave_of  # the engine asks the session it now belongs to
    kept = {id(getattr(target, f.name)) for f in fields(LiveSession)} | {id(d) for d in target.engine.state()}
    return [h for h in old if id(h) not in kept]
