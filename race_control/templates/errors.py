"""The display templates' exception root."""

from __future__ import annotations

from race_control.errors import InputError, NotFound, RaceControlError

__all__ = ["TemplateError", "TemplateInputError", "TemplateNotFound"]


class TemplateError(RaceControlError):
    """Root of every error raised by ``race_control.templates``."""


class TemplateInputError(TemplateError, InputError):
    """A template document that is not valid (API: 400); the message names the block/field."""


class TemplateNotFound(TemplateError, NotFound):
    """No such template (API: 404)."""
