"""The roster's exception root (events, participants, CSV imports)."""

from __future__ import annotations

from race_control.errors import Conflict, InputError, NotFound, RaceControlError

__all__ = ["RosterConflict", "RosterError", "RosterInputError", "RosterNotFound"]


class RosterError(RaceControlError):
    """Root of every error raised by ``race_control.roster``."""


class RosterInputError(RosterError, InputError):
    """An event body, participant row or CSV file the roster cannot use (API: 400)."""


class RosterNotFound(RosterError, NotFound):
    """No such event (API: 404)."""


class RosterConflict(RosterError, Conflict):
    """The change conflicts with the roster as it is, e.g. a bib that belongs to someone else (API: 409)."""
