"""The timing package's exception root (protocols, transports, ingest, simulator).

It lives in ``protocols``, the lowest of timing's layers, so every timing layer can use it.

Sans-IO protocol code never raises for bytes a peer sends (bad lines become events or
row errors); these are for values our own callers pass in (a configuration, a time
text, a file to import) and for calling a state machine out of order.
"""

from __future__ import annotations

from race_control.errors import InputError, NotFound, RaceControlError

__all__ = ["TimingError", "TimingInputError", "TimingNotFound"]


class TimingError(RaceControlError):
    """Root of every error raised by ``race_control.timing``."""


class TimingInputError(TimingError, InputError):
    """A value, file row or file the timing code cannot use; the message names the problem.

    A ``ValueError`` too (through ``InputError``), as these validators always were."""


class TimingNotFound(TimingError, NotFound):
    """No such timing session (stream) (API: 404)."""
