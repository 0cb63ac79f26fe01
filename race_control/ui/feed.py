"""The live read feed behind the timing picker's preview and the display page's finisher list.

Listens to the services (committed reads, committed decisions, stream and session
changes) and re-emits them as Qt signals on the GUI thread (they already run on the
loop's thread: qasync).  Keeps the last reads of every stream since the app started,
so selecting a stream shows its recent reads at once (the timing page adds the stored ones).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

from PySide6.QtCore import QObject, Signal

from race_control.sessions.live import Derived
from race_control.timing.ingest.stored_read import StoredRead

KEEP_PER_STREAM = 500
KEEP_DECISIONS = 50_000


class LiveFeed(QObject):
    reads_added = Signal(list)  # list[StoredRead] (one committed batch)
    decided = Signal(object)  # Derived
    stream_changed = Signal(object)  # StreamState
    session_changed = Signal(object)  # LiveSession

    def __init__(self, services: Any) -> None:
        super().__init__()
        self.recent: dict[str, deque[StoredRead]] = {}
        # (session_id, stream_id, location, read_seq) -> (status, detail)
        self.decisions: OrderedDict[tuple[str, str, str, int], tuple[str, str]] = OrderedDict()
        services.pipeline.add_listener(self._on_reads)
        services.sessions.decision_listeners.append(self._on_decided)
        services.timing.listeners.append(self.stream_changed.emit)
        services.sessions.listeners.append(self.session_changed.emit)

    def _on_reads(self, reads: list[StoredRead]) -> None:
        tags = [r for r in reads if r.kind == "tag"]
        for r in tags:
            q = self.recent.get(r.stream_id)
            if q is None:
                q = self.recent[r.stream_id] = deque(maxlen=KEEP_PER_STREAM)
            q.append(r)
        if tags:
            self.reads_added.emit(tags)

    def _on_decided(self, derived: Derived) -> None:
        for row in derived.events:
            if row["kind"] == "finisher" and row["read_seq"]:
                p = row["payload"]
                status = "shown" if p.get("known", True) else "unknown"
                key = (row["session_id"], row["stream_id"], row["location"], row["read_seq"])
                self.decisions[key] = (status, f"#{row['seq']}")
        for row in derived.suppressions:
            key = (row["session_id"], row["stream_id"], row["location"], row["read_seq"])
            self.decisions[key] = ("suppressed", row["reason"])
        while len(self.decisions) > KEEP_DECISIONS:
            self.decisions.popitem(last=False)
        self.decided.emit(derived)

    def remember(self, session_id: str, decided: dict[tuple[str, str, int], tuple[str, str]]) -> None:
        """Stored decisions (``timing.history.stored_decisions``) for reads from before this run;
        a decision that arrived live meanwhile is newer and stays."""
        for (stream_id, location, seq), value in decided.items():
            self.decisions.setdefault((session_id, stream_id, location, seq), value)
        while len(self.decisions) > KEEP_DECISIONS:
            self.decisions.popitem(last=False)

    def decision(self, session_id: str | None, read: StoredRead) -> tuple[str, str] | None:
        if not session_id:
            return None
        return self.decisions.get((session_id, read.stream_id, read.location, read.seq))
