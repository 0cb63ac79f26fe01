"""A read as stored and dispatched: the one shape the crossing engine sees.

Every protocol (CTP01 live, RACE RESULT, imported controller files) ends up as
``StoredRead`` rows keyed by (stream_id, location, seq), so the crossing engine
and the displays never special-case a protocol.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from hashlib import blake2b


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


def content_key(kind: str, tag: str, time_text: str, lap: int, reader_id: str, gator: int) -> int:
    """What a read says, as one number: a resend of the same read has the same key, a different
    read under the same (location, seq) almost surely not (64 bits of BLAKE2b over the fields,
    each text with its length, so no two different reads are one encoding).  The same in every
    process (not ``hash``, which is keyed per process), so the trackers a clean stop keeps are
    valid at the next start-up (``streams_kept``).  ~1 us a read."""
    text = f"{kind}\0{len(tag)}\0{tag}\0{len(time_text)}\0{time_text}\0{lap}\0{len(reader_id)}\0{reader_id}\0{gator}"
    digest = blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


class SeqTracker:
    """Which source sequence numbers of one (stream, location) are stored, and what each one said.

    The contiguous run ``1..low`` (every number stored, no gap) keeps its content keys in a
    flat array (8 bytes a read), the numbers outside it (above a gap, or 0) in a dict, so memory
    stays small for the normal in-order stream while gaps and resends are still exact.

    ``cursor`` is the resume point: the end of the contiguous run that starts at the lowest
    stored seq (``low`` for a stream numbered from 1, as CTP01 is).  A client is never told to
    skip a number that is not stored, however high the numbers above a gap go (a spoofed seq
    200000 moves nothing).
    """

    __slots__ = ("_above", "_run", "_tail", "low")

    def __init__(self) -> None:
        self.low = 0
        self._run = array("q")  # content keys of seqs 1..low (index seq - 1)
        self._above: dict[int, int] = {}  # seq -> content key, for seqs outside 1..low
        self._tail: tuple[int, int] | None = None  # (first, last) of the run in _above (low == 0)

    def add(self, seq: int, key: int = 0) -> bool:
        """Record ``seq`` with its content ``key``; False if ``seq`` was already there (then
        ``key_of`` says whether it was the same read)."""
        if 0 < seq <= self.low or seq in self._above:
            return False
        if seq == self.low + 1:
            self._run.append(key)
            self.low = seq
            while (nxt := self._above.pop(self.low + 1, None)) is not None:
                self._run.append(nxt)
                self.low += 1
            self._tail = None
        else:
            self._above[seq] = key
            if self._tail is not None:
                first, last = self._tail
                if seq < first:
                    self._tail = None  # a new lowest seq: found again when asked
                elif seq == last + 1:
                    while last + 1 in self._above:
                        last += 1
                    self._tail = (first, last)
        return True

    @property
    def cursor(self) -> int:
        """The end of the contiguous run that starts at the lowest stored seq >= 1 (0: none).
        For a stream numbered from 1 that is ``low``; a stream numbered from elsewhere (RACE
        RESULT's file * 10**7 + n) resumes at the end of its first run, never beyond a gap."""
        if self.low or not self._above:
            return self.low
        if self._tail is None:
            first = min((s for s in self._above if s > 0), default=0)
            if not first:
                return 0
            last = first
            while last + 1 in self._above:
                last += 1
            self._tail = (first, last)
        return self._tail[1]

    def parts(self) -> tuple[int, array[int], dict[int, int]]:
        """(``low``, the run's keys, seq -> key outside the run): what ``restored`` takes back."""
        return self.low, self._run, self._above

    @classmethod
    def restored(cls, low: int, run: array[int], above: dict[int, int]) -> SeqTracker:
        """The tracker ``parts`` described (``ValueError`` if they are not one: ``low`` not the
        run's length, or a seq outside the run that belongs in it)."""
        if len(run) != low or run.typecode != "q" or any(0 < s <= low + 1 for s in above):
            raise ValueError("not the parts of one tracker")
        t = cls()
        t.low, t._run, t._above = low, run, above
        return t

    def has(self, seq: int) -> bool:
        return 0 < seq <= self.low or seq in self._above

    def key_of(self, seq: int) -> int | None:
        """The content key stored for ``seq`` (None if ``seq`` is not stored)."""
        if 0 < seq <= self.low:
            return self._run[seq - 1]
        return self._above.get(seq)

    def __len__(self) -> int:
        return self.low + len(self._above)

    @property
    def last(self) -> int:
        """The highest sequence stored (not a resume point: numbers below it may be missing)."""
        return max(self.low, max(self._above, default=0))
