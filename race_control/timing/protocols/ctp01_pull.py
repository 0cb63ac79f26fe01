"""CTP01 pull mode: the ``getdata~N~<loc>~<seq>`` polling of one server connection.

In pull mode the client sends nothing unasked; the server polls each started
location in turn with ``getdata`` and reads ``ack~getdata~<count>`` followed by
that many data lines (docs/protocols/ctp01.md#push-and-pull).  This is the bookkeeping of that
loop, kept apart from the rest of ``ctp01.Ctp01Server`` because it carries the
one rule the spec leaves open: whether ``getdata``'s sequence number is inclusive
(see ``PullPoller.next_request``).  It never writes; it returns the line to send.
"""

from __future__ import annotations

from dataclasses import dataclass

from race_control.timing.protocols.ctp01_settings import Ctp01Config

__all__ = ["PullPoller", "PullRequest"]


@dataclass
class PullRequest:
    """One ``getdata`` sent and not yet fully answered."""

    location: str
    seq: int | None  # sequence number sent, None = from the first observation
    sent_at: float
    checked: bool = False  # inclusive/exclusive inferred from this reply already


class PullPoller:
    """One outstanding ``getdata`` at a time, round robin over the started locations."""

    def __init__(self, config: Ctp01Config, now: float) -> None:
        self._config = config
        self._request: PullRequest | None = None
        self.remaining = 0  # data lines still due in the reply being read
        self._size = 0  # the count that reply announced
        self._cursor: dict[str, int] = {}  # highest seq held per location
        self._inclusive: bool | None = None
        self._turn = 0
        self._next = now

    def resume(self, location: str, seq: int | None) -> None:
        """Poll ``location`` from ``seq`` on (None or 0: from the client's first observation)."""
        if seq:
            self._cursor[location] = seq
        else:
            self._cursor.pop(location, None)

    def next_request(self, now: float, order: list[str]) -> str | None:
        """The next ``getdata`` line for the started locations in ``order``, if one is due.

        The spec does not say whether ``getdata``'s sequence number is inclusive.  We
        ask for the last seq we hold, so no read can be skipped; the first reply that
        starts at that seq (inclusive) or right after it (exclusive) tells us which,
        and an inclusive client is then asked for last+1 to avoid a resent read per poll.
        """
        if self._request is not None:
            if now - self._request.sent_at < self._config.dead_after:
                return None
            self._request = None  # unanswered: ask again (a silent client dies by dead_after)
            self.remaining = 0
        if now < self._next:
            return None
        if not order:
            return None
        loc = order[self._turn % len(order)]
        self._turn += 1
        cursor = self._cursor.get(loc)
        seq = None if not cursor else cursor + 1 if self._inclusive else cursor
        self._request = PullRequest(loc, seq, now)
        batch = self._config.pull_batch
        return f"getdata~{batch}~{loc}~{seq}" if seq else f"getdata~{batch}~{loc}"

    def reply_announced(self, count: int, now: float) -> None:
        """``ack~getdata~<count>``: that many data lines follow."""
        self.remaining = self._size = count
        if count == 0:
            self.finish(now)

    def reply_line(self) -> tuple[bool, PullRequest | None]:
        """Count one data line: (is it part of a reply?, the ``getdata`` that reply answers)."""
        if self.remaining <= 0:
            return False, None
        self.remaining -= 1
        return True, self._request

    def observe(self, location: str, seq: int, request: PullRequest | None) -> None:
        """A valid read arrived (``request``: the ``getdata`` it answers, else None)."""
        if request is not None and not request.checked:
            request.checked = True
            known = request.seq is not None and self._inclusive is None and location == request.location
            if known and seq in (request.seq, request.seq + 1):
                self._inclusive = seq == request.seq
        self._cursor[location] = max(self._cursor.get(location, 0), seq)

    def finish(self, now: float) -> None:
        """The reply is over (complete, cut short or refused): schedule the next poll."""
        full = self._request is not None and self._size >= self._config.pull_batch
        self._request = None
        self.remaining = self._size = 0
        self._next = now if full else now + self._config.pull_interval  # full batch: more waiting
