"""Central users' password hashes: argon2id (argon2-cffi's ``PasswordHasher``, its defaults:
RFC 9106's second recommended profile — 64 MiB, 3 passes, 4 lanes), stored as the PHC string
``$argon2id$v=19$m=...,t=...,p=...$salt$hash``.  Verification is the library's (constant-time)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def is_argon2(stored: str) -> bool:
    return stored.startswith("$argon2")


def verify_password(stored: str, password: str) -> bool:
    """True if ``password`` matches the argon2 hash ``stored``; False for a mismatch or a hash
    that is not an argon2 hash (never raises for a bad password)."""
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with weaker parameters than today's: re-hash it (with the
    password just verified) when the caller may write the hash (``central add-user``)."""
    try:
        return _hasher.check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True
