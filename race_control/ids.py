"""Identifiers: UUIDs for rows (sync to PostgreSQL without renumbering) and URL tokens."""

from __future__ import annotations

import os
import secrets
import time
import uuid


def new_id() -> str:
    """A time-ordered UUID (v7 layout) as text: unique across machines, sorts by creation."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | (0x7 << 76) | ((rand >> 68) & 0xFFF) << 64
    value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def new_token() -> str:
    """An unguessable URL token: 160 random bits, URL-safe base64 (27 chars)."""
    return secrets.token_urlsafe(20)
