"""The history's query parameters (docs/history.md#history): parsed and checked before any
read, a bad or unknown one is a ``SessionInputError`` naming it (the API answers 400)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from race_control.roster.participants import normalize_bib
from race_control.sessions.errors import SessionInputError

__all__ = [
    "BIB_PARAMS",
    "LIST_PARAMS",
    "SESSION_PARAMS",
    "ListQuery",
    "PageQuery",
    "bib_param",
    "list_query",
    "page_query",
]

LIST_LIMIT, MAX_LIST_LIMIT = 50, 200  # sessions per page
PAGE_LIMIT, MAX_PAGE_LIMIT = 200, 1000  # finishers / suppressions per page
LIST_PARAMS = ("event_id", "status", "from", "to", "limit", "offset")
SESSION_PARAMS = ("limit", "finishers_after", "suppressions_offset")
BIB_PARAMS = ("bib",)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class ListQuery:
    event_id: str | None = None
    status: str | None = None  # open | closed | None: both
    date_from: str | None = None  # the event's date, YYYY-MM-DD, inclusive
    date_to: str | None = None
    limit: int = LIST_LIMIT
    offset: int = 0


@dataclass(frozen=True, slots=True)
class PageQuery:
    limit: int = PAGE_LIMIT
    finishers_after: int = 0  # finisher seq: the page starts after it
    suppressions_offset: int = 0


def _known(params: Mapping[str, str], known: tuple[str, ...]) -> None:
    unknown = sorted(str(k)[:40] for k in params if k not in known)
    if unknown:
        raise SessionInputError(
            f"unknown parameter(s) {', '.join(map(repr, unknown[:10]))}; known: {', '.join(known)}"
        )


def _int(params: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,18}", raw.strip()) or not lo <= int(raw) <= hi:
        raise SessionInputError(f"'{name}' must be a whole number from {lo} to {hi}, not {raw[:40]!r}")
    return int(raw)


def _date(params: Mapping[str, str], name: str) -> str | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _DATE.match(raw):
        raise SessionInputError(f"'{name}' must be a date YYYY-MM-DD, not {raw[:40]!r}")
    return raw


def list_query(params: Mapping[str, str]) -> ListQuery:
    """``GET /api/history/sessions``' parameters; a bad one is a ``SessionInputError`` naming it."""
    _known(params, LIST_PARAMS)
    status = params.get("status") or None
    if status not in (None, "open", "closed"):
        raise SessionInputError(f"'status' must be open or closed, not {status[:40]!r}")
    date_from, date_to = _date(params, "from"), _date(params, "to")
    if date_from and date_to and date_from > date_to:
        raise SessionInputError(f"'from' ({date_from}) is after 'to' ({date_to})")
    return ListQuery(
        event_id=params.get("event_id") or None,
        status=status,
        date_from=date_from,
        date_to=date_to,
        limit=_int(params, "limit", LIST_LIMIT, 1, MAX_LIST_LIMIT),
        offset=_int(params, "offset", 0, 0, 10**9),
    )


def page_query(params: Mapping[str, str]) -> PageQuery:
    _known(params, SESSION_PARAMS)
    return PageQuery(
        limit=_int(params, "limit", PAGE_LIMIT, 1, MAX_PAGE_LIMIT),
        finishers_after=_int(params, "finishers_after", 0, 0, 2**62),
        suppressions_offset=_int(params, "suppressions_offset", 0, 0, 10**9),
    )


def bib_param(params: Mapping[str, str]) -> str:
    """The bib of a search, normalized as participants' bibs are (``007`` is ``7``)."""
    _known(params, BIB_PARAMS)
    raw = (params.get("bib") or "").strip()
    if not raw:
        raise SessionInputError("'bib' is required (the bib to look for)")
    if len(raw) > 32:
        raise SessionInputError(f"'bib' is longer than 32 characters: {raw[:40]!r}")
    return normalize_bib(raw)
