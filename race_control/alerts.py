"""What needs the operator now: one board of alerts, fed by every part, read by the API and the desktop.

A part that detects trouble calls ``raise_alert(kind, key, message, severity=…)`` while the
condition holds (repeat calls update the message and count, they do not duplicate it) and
``clear(kind, key)`` when it is over.  A cleared alert stays listed as *resolved* until the
operator acknowledges it, so trouble that came and went (a screen that dropped, a storage
error that healed) is not missed.  ``acknowledge`` hides an alert; if its condition comes
back it is raised again.

Kinds in use (``KINDS``): a silent stream while its race is on, a lost screen, a clock far
off, storage errors, sequence conflicts (a stream sent a seq again with other content), a
stream claimed from a second address, a timing client refused by the allow-list, caps hit,
backlogs, low disk, sync backlog.

Loop rule: call from the event loop (or any single thread); nothing here blocks or does I/O.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("race_control.alerts")
SEVERITIES = ("info", "warning", "critical")
KINDS = (
    "stream_silent",
    "screen_lost",
    "clock_off",
    "storage_error",
    "seq_conflict",
    "stream_claimed",
    "timing_refused",
    "cap_reached",
    "backlog",
    "low_disk",
    "sync_backlog",
)
MAX_RESOLVED = 500  # resolved, unacknowledged alerts kept (oldest dropped first)
Listener = Callable[["Alert"], None]


@dataclass
class Alert:
    kind: str
    key: str  # what it is about (a stream id, a screen id, "store", …), unique within its kind
    severity: str
    message: str
    since: float  # when the condition began (Unix time)
    last_at: float  # when it was last seen
    count: int = 1
    active: bool = True  # False: the condition is over, still listed until acknowledged
    acknowledged: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.key}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
            "since": _iso(self.since),
            "last_at": _iso(self.last_at),
            "count": self.count,
            "active": self.active,
            "acknowledged": self.acknowledged,
            **({"details": self.details} if self.details else {}),
        }


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class AlertBoard:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._alerts: dict[str, Alert] = {}
        self.listeners: list[Listener] = []  # called with each alert that was raised, changed or cleared

    def raise_alert(
        self, kind: str, key: str, message: str, *, severity: str = "warning", **details: Any
    ) -> Alert:
        if kind not in KINDS:
            raise ValueError(f"unknown alert kind {kind!r}")
        if severity not in SEVERITIES:
            raise ValueError(f"unknown alert severity {severity!r}")
        now = self._clock()
        alert = self._alerts.get(f"{kind}:{key}")
        if alert is None or (not alert.active and alert.acknowledged):
            alert = Alert(kind, key, severity, message, now, now, details=dict(details))
            self._alerts[alert.id] = alert
            log.warning("alert %s (%s): %s", alert.id, severity, message)
        else:
            if not alert.active:  # came back before anyone looked: same alert, begins again
                alert.since, alert.active, alert.acknowledged = now, True, False
                log.warning("alert %s (%s) again: %s", alert.id, severity, message)
            alert.count += 1
            alert.last_at, alert.message, alert.severity = now, message, severity
            alert.details.update(details)
        self._notify(alert)
        return alert

    def hold(
        self,
        kind: str,
        key: str,
        holds: bool,
        message: str = "",
        *,
        severity: str = "warning",
        **details: Any,
    ) -> None:
        """For a periodic check: raise when the condition starts to hold, refresh its message
        while it holds (one occurrence: the count stays), clear when it no longer holds."""
        if not holds:
            self.clear(kind, key)
            return
        alert = self._alerts.get(f"{kind}:{key}")
        if alert is None or not alert.active:
            self.raise_alert(kind, key, message, severity=severity, **details)
            return
        if severity not in SEVERITIES:
            raise ValueError(f"unknown alert severity {severity!r}")
        alert.last_at = self._clock()
        changed = any(alert.details.get(k) != v for k, v in details.items())
        if changed or (alert.message, alert.severity) != (message, severity):
            alert.message, alert.severity = message, severity
            alert.details.update(details)
            self._notify(alert)

    def clear(self, kind: str, key: str) -> None:
        """The condition is over; the alert stays listed (resolved) until acknowledged."""
        alert = self._alerts.get(f"{kind}:{key}")
        if alert is None or not alert.active:
            return
        alert.active = False
        alert.last_at = self._clock()
        log.info("alert %s resolved", alert.id)
        if alert.acknowledged:
            del self._alerts[alert.id]
        self._prune()
        self._notify(alert)

    def acknowledge(self, alert_id: str) -> Alert | None:
        """The operator has seen it: hidden from the list; a resolved one is forgotten."""
        alert = self._alerts.get(alert_id)
        if alert is None:
            return None
        alert.acknowledged = True
        if not alert.active:
            del self._alerts[alert_id]
        self._notify(alert)
        return alert

    def is_active(self, kind: str, key: str) -> bool:
        alert = self._alerts.get(f"{kind}:{key}")
        return alert is not None and alert.active

    def alerts(self, *, include_acknowledged: bool = False) -> list[Alert]:
        """Newest first: active ones, then resolved ones nobody has acknowledged yet."""
        shown = [a for a in self._alerts.values() if include_acknowledged or not a.acknowledged]
        return sorted(shown, key=lambda a: (not a.active, -a.last_at))

    def _prune(self) -> None:
        resolved = [a for a in self._alerts.values() if not a.active]
        for alert in sorted(resolved, key=lambda a: a.last_at)[: max(0, len(resolved) - MAX_RESOLVED)]:
            del self._alerts[alert.id]

    def _notify(self, alert: Alert) -> None:
        for fn in self.listeners:
            try:
                fn(alert)
            except Exception:
                log.exception("alert listener failed")
