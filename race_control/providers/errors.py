"""The providers' exception root: every failure names the provider, the URL path and, for a
payload that is not what the adapter expects, the field.

Secrets are never part of a message: the path is the URL's path only (no query string, where
some providers put keys), and credential values are never formatted in.
"""

from __future__ import annotations

from race_control.errors import Conflict, InputError, NotFound, RaceControlError

__all__ = [
    "ProviderAuthError",
    "ProviderConflict",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderInputError",
    "ProviderMalformed",
    "ProviderNotFound",
    "ProviderShapeError",
    "ProviderUnavailable",
]


class ProviderError(RaceControlError):
    """Root of every error raised by ``race_control.providers``."""

    def __init__(self, message: str, *, provider: str = "", path: str = "", field: str = "") -> None:
        super().__init__(message)
        self.provider = provider
        self.path = path
        self.field = field


class ProviderInputError(ProviderError, InputError):
    """A request of ours that cannot be made: an unknown provider, a missing credential field,
    a bad base URL (API: 400)."""


class ProviderNotFound(ProviderError, NotFound):
    """No such provider account (API: 404)."""


class ProviderConflict(ProviderError, Conflict):
    """The request conflicts with what is stored (API: 409)."""


class ProviderAuthError(ProviderError, InputError):
    """The provider refused the account's credentials (401/403, or its error code for a bad or
    expired key).  Input: the operator has to fix the account (API: 400)."""


class ProviderRemoteError(ProviderError):
    """The provider answered, but not with something usable (API: 502)."""


class ProviderHTTPError(ProviderRemoteError):
    """An HTTP status that is neither success nor retryable (404 of an event id, 400...)."""

    def __init__(self, message: str, *, status: int, **kw: str) -> None:
        super().__init__(message, **kw)
        self.status = status


class ProviderMalformed(ProviderRemoteError):
    """The body is not JSON (or not the JSON the provider promised)."""


class ProviderShapeError(ProviderRemoteError):
    """The JSON has an unexpected shape: a missing or wrongly typed field (named in ``field``)."""


class ProviderUnavailable(ProviderRemoteError):
    """429/5xx or a network failure that outlasted the retries.  Trying later can help."""

    retryable = True


def shape_error(provider: str, path: str, field: str, expected: str, got: object) -> ProviderShapeError:
    """A ``ProviderShapeError`` with one wording everywhere: provider, path, field, what was expected."""
    seen = "missing" if got is _MISSING else type(got).__name__
    return ProviderShapeError(
        f"{provider}: unexpected response from {path}: '{field}' should be {expected}, got {seen}",
        provider=provider,
        path=path,
        field=field,
    )


class _Missing:
    pass


_MISSING = _Missing()
MISSING: object = _MISSING
