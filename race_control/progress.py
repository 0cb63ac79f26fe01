"""Progress and cancellation for long operations (roster imports, provider syncs).

Qt-free: services report into a ``Progress``; the desktop app shows it in a progress
dialog (its Cancel button calls ``cancel``), the API and CLI print it.  Cancelling
is cooperative: the operation checks ``raise_if_cancelled`` between units of work
and stops before the next one, so nothing is half-applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from race_control.errors import RaceControlError


class Cancelled(RaceControlError):
    """The user cancelled; everything committed before stays, nothing after runs."""


@dataclass
class Progress:
    label: str = ""
    done: int = 0
    total: int = 0
    cancelled: bool = False
    listeners: list[Callable[[Progress], None]] = field(default_factory=list)

    def start(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self._notify()

    def advance(self, n: int = 1, label: str | None = None) -> None:
        self.done = min(self.total or self.done + n, self.done + n)
        if label is not None:
            self.label = label
        self._notify()

    def cancel(self) -> None:
        self.cancelled = True

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled(f"{self.label or 'operation'} cancelled after {self.done} of {self.total}")

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    def _notify(self) -> None:
        for fn in self.listeners:
            fn(self)
