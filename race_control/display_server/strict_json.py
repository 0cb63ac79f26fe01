"""Strict JSON for the local API: what ``json.loads`` lets through that no handler wants.

* ``NaN``, ``Infinity``, ``-Infinity`` and numbers that overflow to infinity (``1e400``):
  not JSON (RFC 8259), and a ``NaN`` that reaches a screen breaks its ``JSON.parse``.
* Nesting deeper than ``MAX_DEPTH``: checked on the raw text *before* parsing, so a
  100,000-deep array is a 400 and never a ``RecursionError``.
* Text that is not UTF-8, or a string with a lone surrogate (``"\\ud800"``): SQLite and
  every encoder downstream would fail on it later, half-way through a change.

Pure functions (no I/O); ``display_server.api.read_json`` reads the body and runs large ones
off the loop.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from itertools import accumulate
from typing import Any

from race_control.display_server.errors import DisplayInputError

MAX_DEPTH = 32
_BRACKETS_AND_QUOTES = b'"[]{}'
_DROP = bytes(b for b in range(256) if b not in _BRACKETS_AND_QUOTES)
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # open +1, close -1 (as signed bytes)
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE_PAIR = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def nesting_depth(raw: bytes) -> int:
    """How deep arrays/objects nest in ``raw`` (JSON text), counted without parsing it.

    Brackets inside strings do not count: escaped backslashes and quotes are dropped first,
    then everything but quotes and brackets, then what lies between quotes.  Unbalanced or
    mixed-up brackets (invalid JSON) count as far as a parser would recurse into them."""
    rest = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _DROP)
    if b'"' in rest:
        rest = b"".join(rest.split(b'"')[::2])  # even pieces lie outside strings
    rest = rest.replace(b"{", b"[").replace(b"}", b"]")
    depth = 0
    while len(rest) > 4096:  # drop innermost pairs first (one level each pass, at C speed)
        shorter = rest.replace(b"[]", b"")
        if len(shorter) > len(rest) * 0.9:
            break
        rest, depth = shorter, depth + 1
    return depth + max(accumulate(array("b", rest.translate(_STEP))), default=0)


def _no_constant(name: str) -> Any:
    raise DisplayInputError(f"request body is not valid JSON: {name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise DisplayInputError(f"request body is not valid JSON: the number {text[:40]} is out of range")
    return value


def parse_strict(raw: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``raw`` parsed as strict JSON; DisplayInputError naming the problem otherwise."""
    if not raw.strip():
        raise DisplayInputError("request body is empty; expected JSON")
    if raw.count(b"[") + raw.count(b"{") > max_depth and nesting_depth(raw) > max_depth:
        raise DisplayInputError(f"request body nests arrays/objects more than {max_depth} levels deep")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DisplayInputError(f"request body is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    if (
        "\\u" in text
        and _SURROGATE.search(text)
        and _SURROGATE.search(_SURROGATE_PAIR.sub("", text.replace("\\\\", "")))
    ):
        raise DisplayInputError(
            "request body is not valid JSON: a string has an unpaired \\uD800-\\uDFFF escape"
        )
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except DisplayInputError:  # from the hooks (also a ValueError: keep its own message)
        raise
    except RecursionError:  # the depth check above should have caught it; never a 500
        raise DisplayInputError(
            f"request body nests arrays/objects more than {max_depth} levels deep"
        ) from None
    except ValueError as exc:
        raise DisplayInputError(f"request body is not valid JSON: {exc}") from None
