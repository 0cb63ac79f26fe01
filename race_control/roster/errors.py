"""The roster's exception root (events, participants, CSV imports)."""

from __future__ import annotations

from race_control.errors import InputError, NotFound, RaceControlError

__all__ = ["RosterError", "RosterInputError", "RosterNotFound"]


class RosterError(RaceControlError):
    """Root of every error raised by ``race_control.roster``."""


class RosterInputError(RosterError, InputError):
    """An event body, participant row or CSV file the roster cannot use (API: 400)."""


class RosterNotFound(RosterError, NotFound):
    """No such event (API: 404)."""
