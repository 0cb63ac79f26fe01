"""Identifiers: UUIDs for rows (sync to PostgreSQL without renumbering) and URL tokens."""

from __future__ import annotations

import os
import secrets
import time

_MS = (1 << 48) - 1
_RAND_B = (1 << 62) - 1
_RANDOM_BYTES = 10  # 74 random bits a UUID (12 of rand_a, 62 of rand_b), from 80


def _text(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _uuid7(head: int, rand: int) -> str:
    value = head | ((rand >> 68) & 0xFFF) << 64 | (0b10 << 62) | (rand & _RAND_B)
    return _text(value)


def _head() -> int:
    return ((time.time_ns() // 1_000_000) & _MS) << 80 | (0x7 << 76)


def new_id() -> str:
    """A time-ordered UUID (v7 layout) as text: unique across machines, sorts by creation."""
    return _uuid7(_head(), int.from_bytes(os.urandom(_RANDOM_BYTES), "big"))


def new_ids(n: int) -> list[str]:
    """``n`` ids as ``new_id`` makes them, with one read of the system's random source for all
    (a 50,000-runner import: one ``os.urandom`` call, not 50,000: docs/providers.md#load)."""
    head = _head()
    pool = os.urandom(_RANDOM_BYTES * n)
    return [
        _uuid7(head, int.from_bytes(pool[i : i + _RANDOM_BYTES], "big"))
        for i in range(0, _RANDOM_BYTES * n, _RANDOM_BYTES)
    ]


def new_token() -> str:
    """An unguessable URL token: 160 random bits, URL-safe base64 (27 chars)."""
    return secrets.token_urlsafe(20)
