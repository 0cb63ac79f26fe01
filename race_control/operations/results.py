"""Typed results of operations: what the caller shows (API JSON, a status line in the GUI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from race_control.roster.participants import ParticipantRow, Rejected
from race_control.roster.service import EventInfo
from race_control.sessions.live import LiveSession


@dataclass(frozen=True)
class SessionResult:
    session: LiveSession
    rerun: dict[str, int] = field(default_factory=dict)  # rule change: what re-running stored reads did


@dataclass(frozen=True)
class ScreensResult:
    sent: int  # screens that got the message
    target: LiveSession | None = None  # a move: the session they go to


@dataclass(frozen=True)
class ImportResult:
    imported: int
    rejected: list[Rejected]


@dataclass(frozen=True)
class EventResult:
    event: EventInfo


@dataclass(frozen=True)
class ParticipantResult:
    participant: ParticipantRow
    corrections: int = 0  # finishes already on screens that were re-sent with the edited runner


@dataclass(frozen=True)
class SwapResult:
    first: ParticipantRow  # the runner who wore the first bib, with the second now
    second: ParticipantRow
    corrections: int = 0


@dataclass(frozen=True)
class TemplateResult:
    template: dict[str, Any]
    sessions_updated: int = 0  # open sessions whose screens restyled


@dataclass(frozen=True)
class FileImportResult:
    summary: dict[str, Any]
