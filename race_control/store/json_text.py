"""JSON text exactly as ``json.dumps(value)`` writes it (the JSON columns' own text), faster.

``json.dumps`` with its default options builds a new C encoder for every call; for the small
dicts a large import writes — a participant's extra columns and a link's raw provider row,
50,000 of each (docs/providers.md#load) — that set-up costs more than the encoding.  ``dumps``
keeps one C encoder with the very options ``json.dumps`` uses (ASCII only, ``", "`` and
``": "``, NaN allowed, no sorting) and calls it.  The one difference: it does not look for
circular references (a row decoded from JSON or read from a CSV file has none; a circular value
fails with ``RecursionError`` instead of ``ValueError``).  Without the C encoder (another
Python), it is ``json.dumps``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from json import encoder as _encoder
from typing import Any

_default = json.JSONEncoder().default  # (raises TypeError for what JSON cannot hold)
_make = getattr(_encoder, "c_make_encoder", None)
_ascii = getattr(_encoder, "c_encode_basestring_ascii", None)
_c = (
    _make(None, _default, _ascii, None, ": ", ", ", False, False, True)
    if _make is not None and _ascii is not None
    else None
)

_c_compact = (  # the same, with json.dumps(..., separators=(",", ":"))'s separators
    _make(None, _default, _ascii, None, ":", ",", False, False, True)
    if _make is not None and _ascii is not None
    else None
)
_COMPACT = (",", ":")


def dumps(value: Any) -> str:
    """``json.dumps(value)``'s text."""
    if _c is None or isinstance(value, str):
        return json.dumps(value)
    return "".join(_c(value, 0))


def dumps_all(values: Iterable[Any]) -> list[str]:
    """``[dumps(v) for v in values]`` without a Python call per value (a 50,000-row import
    writes two columns of them)."""
    if _c is None:
        return list(map(json.dumps, values))
    join, encode = "".join, _c
    return [json.dumps(v) if isinstance(v, str) else join(encode(v, 0)) for v in values]


def dumps_compact(value: Any) -> str:
    """``json.dumps(value, separators=(",", ":"))``'s text: a stored display message (about 50
    bytes shorter than with the blanks), written once per session for every finisher."""
    if _c_compact is None or isinstance(value, str):
        return json.dumps(value, separators=_COMPACT)
    return "".join(_c_compact(value, 0))
