"""Resource caps hit by strangers on the LAN: logged at most once a minute, raised as ``cap_reached``.

A cap (timing connections, lines before a connection identifies itself, unsent bytes to a
client that never reads, screens per session and per address, store catch-ups) is hit by a
peer; the capped part refuses or closes just that peer and calls ``CapReporter.hit``.  A
flood of hits must not flood the log or the alert board: each cap logs and raises its alert
at most once per ``every`` seconds, with the number of hits since.  The display hub uses
the same reporter.

Loop rule: call from the event loop; nothing here blocks or does I/O (besides logging).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from race_control.alerts import AlertBoard

EVERY = 60.0  # seconds: at most one log line and alert update per cap


class CapReporter:
    def __init__(
        self,
        alerts: AlertBoard | None,
        log: logging.Logger,
        *,
        every: float = EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._alerts = alerts if alerts is not None else AlertBoard()
        self._log = log
        self._every = every
        self._clock = clock
        self._last: dict[str, float] = {}  # cap -> when it was last reported
        self._unreported: dict[str, int] = {}  # cap -> hits since then
        self.hits: dict[str, int] = {}  # cap -> every hit since start

    def hit(self, cap: str, value: float, who: str, message: str) -> None:
        """``cap`` (its setting's name) with limit ``value`` was hit by ``who``; ``message``
        says what was refused or closed (plain text, no client-supplied text unescaped)."""
        self.hits[cap] = self.hits.get(cap, 0) + 1
        self._unreported[cap] = self._unreported.get(cap, 0) + 1
        now = self._clock()
        last = self._last.get(cap)
        if last is not None and now - last < self._every:
            return
        hits = self._unreported.pop(cap)
        self._last[cap] = now
        more = f" ({hits} times since the last report)" if hits > 1 else ""
        self._log.warning("cap %s=%s reached by %s: %s%s", cap, value, who, message, more)
        self._alerts.raise_alert(
            "cap_reached",
            cap,
            f"{message} (limit {cap} = {value}, reached by {who}); raise it in settings.json "
            "if this is your own equipment",
            severity="warning",
            cap=cap,
            value=value,
            who=who,
            hits=self.hits[cap],
        )
