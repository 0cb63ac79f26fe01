"""In-memory state of one display session, and the rows a batch of decisions produces."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from race_control.roster.participants import ParticipantRow
from race_control.sessions.crossing import Crossing, CrossingEngine, CrossingRules, Suppressed
from race_control.sessions.finisher import apply_runner, finisher_payload, stored_middle, stored_text
from race_control.sessions.waiting import Waiting, payload_of, reopened, shared_part, waiting_from
from race_control.store.models import now
from race_control.timing.ingest.stored_read import StoredRead

MODES = ("results", "pre-race")
# a finisher message's fields that come from the roster (apply_runner fills them)
_PERSONAL = ("first_name", "last_name", "city", "state", "country", "division", "team", "gender", "message")
Lookup = Callable[[str, str], ParticipantRow | None]  # (event_id, bib) -> runner
# a ranked finisher: (elapsed, *RANKED_FIELDS) — what a leaderboard entry shows besides place/bib
RANKED_FIELDS = ("name", "time", "division", "city", "state", "known")
Ranked = tuple[float, str, str, str, str, str, bool]


def ranked_of(payload: dict[str, Any], elapsed: float, time: str | None = None) -> Ranked:
    """A finisher message as its leaderboard entry (``time``: keep the time first ranked)."""
    return (
        elapsed,
        payload.get("name") or "",
        (payload.get("time") or "") if time is None else time,
        payload.get("division") or "",
        payload.get("city") or "",
        payload.get("state") or "",
        bool(payload.get("known")),
    )


@dataclass
class Derived:
    """What a batch of reads caused: display events (sequenced) and suppressions."""

    events: list[dict[str, Any]] = field(default_factory=list)
    suppressions: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.events or self.suppressions)

    def restamp(self, **changes: Any) -> None:
        """Change every event's message after it was made (a replay marks its own): the stored
        text ``announce`` made with a finisher's message is dropped, so the message is encoded
        again as it is now."""
        for row in self.events:
            row["payload"].update(changes)
            row.pop("text", None)


@dataclass
class LiveSession:
    id: str
    token: str
    event_id: str
    name: str
    mode: str
    template_id: str | None
    rules: CrossingRules
    status: str
    created_at: float
    lookup: Lookup
    streams: set[str] = field(default_factory=set)
    next_seq: int = 1
    finishers: int = 0
    suppressed: int = 0
    mode_changed_at: float | None = None
    mode_changed_by: str = ""  # "operator" | "first finisher" | "schedule"
    starts_at: float | None = None  # pre-race countdown target (epoch s)
    switch_at: float | None = None  # scheduled pre-race → results switch (epoch s)
    unknown: dict[str, list[Waiting]] = field(default_factory=dict)  # bib -> its finishes shown as "Bib N"
    leaderboard_top: int = 0  # >0: screens get the top N overall (and per division) after changes
    public: bool = False  # its screens may also be served from the central database (the relay)
    board_dirty: bool = False
    gun_dirty: bool = False  # a gun time arrived: screens' race clocks need the new start
    # bib -> its first timed finish, as what a leaderboard entry shows (``Ranked``): a tuple, not
    # the finisher message (a few hundred bytes a finisher instead of ~1.5 KB, 20 sessions over)
    _ranked: dict[str, Ranked] = field(default_factory=dict)
    _times: list[float] = field(default_factory=list)  # sorted elapsed of ranked finishers
    _division_times: dict[str, list[float]] = field(default_factory=dict)
    # stream -> raw_n of its last read this session decided (a stream's reads are decided in
    # raw_n order): where a start-up from a snapshot (``sessions.snapshot``) continues
    decided_to: dict[str, int] = field(default_factory=dict)
    engine: CrossingEngine = field(init=False)
    # the engine may be other live sessions' too (``engine_sharing``): copied before this session
    # decides a read alone, so a shared engine only ever decides reads for all its sessions
    engine_shared: bool = False

    def __post_init__(self) -> None:
        self.reset_engine()

    def reset_engine(self) -> None:
        self.engine = CrossingEngine(self.rules, wave_of=self._wave_of)
        self.engine_shared = False

    def own_engine(self) -> None:
        """Leave a shared engine: from now on this session decides with a copy of its own."""
        if self.engine_shared:
            self.engine = self.engine.copy(self._wave_of)
            self.engine_shared = False

    def _wave_of(self, bib: str) -> str:
        runner = self.lookup(self.event_id, bib)
        return runner.wave if runner else ""

    def decide(
        self,
        read: StoredRead,
        out: Derived,
        *,
        announce: bool = True,
        seen: dict[int, Any] | None = None,
    ) -> Crossing | Suppressed | None:
        """Run one read through the rules; append the resulting rows to ``out``.  ``seen``: the
        engines that decided this read already (by id) and what they decided — sessions that
        share an engine (``engine_sharing``) decide a read once between them, and make its
        finisher message once (``announce``).  Without it the read is this session's alone (a
        replay of a stream it is not bound to): a shared engine is left first."""
        self.decided_to[read.stream_id] = read.raw_n
        if seen is None:
            if self.engine_shared:
                self.own_engine()
            result = self.engine.process(read)
        elif (key := id(self.engine)) in seen:
            result = seen[key]
        else:
            result = seen[key] = self.engine.process(read)
        if result is None:
            if read.kind == "gun":
                self.gun_dirty = True
            return None
        if isinstance(result, Crossing):
            self.finishers += 1
            if announce:
                self.announce(result, out, seen)
            elif result.elapsed is not None and read.bib not in self._ranked:
                # warming up or re-running: places must still count this finisher
                self._rank(finisher_payload(0, result, self.lookup(self.event_id, read.bib)), result.elapsed)
        else:
            self.suppressed += 1
            out.suppressions.append(
                {
                    "session_id": self.id,
                    "stream_id": read.stream_id,
                    "location": read.location,
                    "read_seq": read.seq,
                    "bib": read.bib,
                    "code": result.code,
                    "reason": result.reason,
                    "created_at": now(),
                }
            )
        return result

    def announce(self, crossing: Crossing, out: Derived, seen: dict[int, Any] | None = None) -> None:
        """Show ``crossing`` with this session's next seq and its place.  ``seen`` (``decide``'s):
        the message and leaderboard entry are made once per crossing (by its id) for the sessions
        that share its engine (the same event: the same runner), each taking a copy with its own
        seq and places, so they also hold the same texts, not one copy each."""
        read = crossing.read
        seq = self.next_seq
        self.next_seq += 1
        made = seen.get(id(crossing)) if seen is not None else None
        if made is None:
            base = finisher_payload(0, crossing, self.lookup(self.event_id, read.bib))
            ranked = ranked_of(base, crossing.elapsed) if crossing.elapsed is not None else None
            made = base, ranked, None if base["known"] else shared_part(base), stored_middle(base)
            if seen is not None:
                seen[id(crossing)] = made
        payload = {**made[0], "seq": seq}
        self._rank(payload, crossing.elapsed, made[1])
        if made[2] is not None:  # nobody's bib: kept compact until a roster names it
            self.unknown.setdefault(read.bib, []).append(waiting_from(payload, made[2]))
        row = self.event_row("finisher", payload, read)
        if made[3] is not None:  # the stored text, made from what the crossing's sessions share
            row["text"] = stored_text(made[3], seq, payload["place"], payload["division_place"])
        out.events.append(row)

    def _rank(self, payload: dict[str, Any], elapsed: float | None, ranked: Ranked | None = None) -> None:
        """Provisional place overall and in the division, by time, among finishers so far
        (a bib's first timed finish only: laps and re-crossings do not rank twice).  ``ranked``:
        its leaderboard entry made already (``announce``)."""
        payload["place"] = payload["division_place"] = None
        bib = payload["bib"]
        if elapsed is None or bib in self._ranked:
            return
        place = bisect.bisect_right(self._times, elapsed) + 1
        bisect.insort(self._times, elapsed)
        payload["place"] = place
        division = payload.get("division") or ""
        if division:
            times = self._division_times.setdefault(division, [])
            payload["division_place"] = bisect.bisect_right(times, elapsed) + 1
            bisect.insort(times, elapsed)
        self._ranked[bib] = ranked if ranked is not None else ranked_of(payload, elapsed)
        self.board_dirty = True

    def latest_gun(self) -> tuple[str, float] | None:
        """(stream, clock) of the most recent gun this session knows, for the screens' race clock."""
        best: tuple[str, float] | None = None
        for stream_id, guns in self.engine.guns.items():
            if guns and (best is None or guns[-1] > best[1]):
                best = (stream_id, guns[-1])
        return best

    def leaderboard(self, top: int) -> dict[str, Any]:
        """Top ``top`` by time overall and per division (finisher-shaped entries)."""
        ranked = sorted(self._ranked.items(), key=lambda item: item[1][0])

        def entry(i: int, bib: str, r: Ranked) -> dict[str, Any]:
            return {"place": i, "bib": bib, **dict(zip(RANKED_FIELDS, r[1:], strict=True))}

        divisions: dict[str, list[dict[str, Any]]] = {}
        for bib, r in ranked:
            d = r[3]
            if d and len(divisions.setdefault(d, [])) < top:
                divisions[d].append(entry(len(divisions[d]) + 1, bib, r))
        return {
            "type": "leaderboard",
            "entries": [entry(i, bib, r) for i, (bib, r) in enumerate(ranked[:top], start=1)],
            "divisions": divisions,
        }

    def event_row(self, kind: str, payload: dict[str, Any], read: StoredRead | None = None) -> dict[str, Any]:
        return {
            "session_id": self.id,
            "seq": payload["seq"],
            "kind": kind,
            "bib": payload.get("bib", ""),
            "stream_id": read.stream_id if read else "",
            "location": read.location if read else "",
            "read_seq": read.seq if read else 0,
            "payload": payload,
            "created_at": now(),
            "clock": read.clock if read else None,  # not stored: a finisher's minute (write_derived)
        }

    def corrections_for(self, bibs: list[str], seq: int) -> list[dict[str, Any]]:
        """Runners the roster just learned: a correction row for each of their "Bib N" finishes,
        with their names, with seqs from ``seq`` on.  ``self`` is not changed: once the rows are
        committed, their bibs leave ``unknown`` and ``apply_corrections`` takes the rows."""
        rows = []
        for bib in dict.fromkeys(bibs):
            runner = self.lookup(self.event_id, bib) if bib in self.unknown else None
            if runner is None:
                continue
            for old in self.unknown[bib]:
                fresh = payload_of(old)
                apply_runner(fresh, runner)
                fresh.update(type="correction", seq=seq, corrects_seq=old.seq)
                seq += 1
                rows.append(self.event_row("correction", fresh))
        return rows

    def shown_corrections(
        self, bib: str, shown: list[dict[str, Any]], runner: ParticipantRow | None, seq: int
    ) -> list[dict[str, Any]]:
        """A runner this session already showed was edited (``runner``: who wears ``bib`` after
        the edit; None when the runner moved away to another bib): a correction row for each
        finish of ``bib`` it showed whose screen text changes, with seqs from ``seq`` on.
        ``shown`` is the latest message of each finish (its finisher or its last correction).
        Finishes still waiting as "Bib N" are left to the roster corrections.  ``self`` is not
        changed: ``apply_corrections`` after the rows are committed."""
        if bib in self.unknown:
            return []
        blank: dict[str, Any] = {**dict.fromkeys(_PERSONAL, ""), "name": f"Bib {bib}", "age": None}
        rows = []
        for old in shown:
            fresh = {**old, **blank}
            apply_runner(fresh, runner)
            if all(fresh.get(k) == old.get(k) for k in (*blank, "known")):
                continue
            finish_seq = old.get("corrects_seq", old["seq"])  # screens patch the finisher's seq
            fresh.update(type="correction", seq=seq, corrects_seq=finish_seq)
            seq += 1
            rows.append(self.event_row("correction", fresh))
        return rows

    def apply_corrections(self, rows: list[dict[str, Any]]) -> None:
        """``shown_corrections``' rows are stored: take their seqs, keep finishes that are nobody's
        now waiting for a name (a later import corrects them), rename the leaderboard entry."""
        for row in rows:
            fresh = row["payload"]
            self.next_seq = max(self.next_seq, fresh["seq"] + 1)
            bib = fresh["bib"]
            if not fresh["known"]:
                self.unknown.setdefault(bib, []).append(reopened(fresh))
            if bib in self._ranked:
                self._ranked[bib] = ranked_of(fresh, self._ranked[bib][0], self._ranked[bib][2])
                self.board_dirty = True

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "name": self.name,
            "mode": self.mode,
            "template_id": self.template_id,
            "locations": list(self.rules.locations),
            "rules": self.rules.to_json(),
            "status": self.status,
            "timing_session_ids": sorted(self.streams),
            "last_seq": self.next_seq - 1,
            "finishers": self.finishers,
            "suppressed": self.suppressed,
            "unknown_bibs": sorted(self.unknown),
            "mode_changed_at": self.mode_changed_at,
            "mode_changed_by": self.mode_changed_by,
            "starts_at": self.starts_at,
            "switch_at": self.switch_at,
            "leaderboard_top": self.leaderboard_top,
            "public": self.public,
            "created_at": self.created_at,
        }
