"""Identifiers: UUIDs for rows (sync to PostgreSQL without renumbering) and URL tokens."""

from __future__ import annotations

import os
import secrets
import time

_MS = (1 << 48) - 1
_RAND_B = (1 << 62) - 1
_RANDOM_BYTES = 10  # 74 random bits a UUID (12 of rand_a, 62 of rand_b), from 80
# rand_b's first hex digit with the variant's two bits (10) in place of its top two
_VARIANT = {f"{d:x}": f"{0b1000 | d & 0b11:x}" for d in range(16)}


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
    (a 50,000-runner import: one ``os.urandom`` call, not 50,000: docs/providers.md#load) and
    the text cut from its hex digits (the clock's part once for the batch), in ascending order
    (RFC 9562's monotonic ids within a millisecond): rows written in the order of their ids
    add to the end of every index on them (the primary key, the sync outbox's) instead of all
    over it — a quarter less SQLite time for a 50,000-runner import."""
    head = f"{_head() >> 64:016x}"  # 48 bits of milliseconds and the version (7): 16 hex digits
    stamp = f"{head[:8]}-{head[8:12]}-{head[12]}"
    digits = os.urandom(_RANDOM_BYTES * n).hex()  # 20 a UUID: rand_a (3), unused (1), rand_b (16)
    variant = _VARIANT
    ids = [
        f"{stamp}{digits[i : i + 3]}-{variant[digits[i + 4]]}{digits[i + 5 : i + 8]}-{digits[i + 8 : i + 20]}"
        for i in range(0, 2 * _RANDOM_BYTES * n, 2 * _RANDOM_BYTES)
    ]
    ids.sort()
    return ids


def new_token() -> str:
    """An unguessable URL token: 160 random bits, URL-safe base64 (27 chars)."""
    return secrets.token_urlsafe(20)
