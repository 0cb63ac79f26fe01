"""CTP01 authentication: the ``authorize~<user>~<string>`` string, for both ends of the link.

The server offers a method (and, for the hmac/seed methods, a fresh random seed)
in its settings; the client answers with a string derived from its password
(docs/protocols/ctp01.md#authentication).  One function computes that string, so our
server and our replay client cannot disagree about it.  The digests are hex and
real clients differ in case, so the server compares them case-insensitively and
in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from race_control.timing.protocols.ctp01_lines import field_ok
from race_control.timing.protocols.ctp01_settings import SEEDED_METHODS, Ctp01ConfigError

__all__ = ["auth_matches", "compute_auth_string", "offered_seed"]


def compute_auth_string(method: str, password: str, seed: str) -> str:
    """The ``authorize`` string a client must send (docs/protocols/ctp01.md#authentication).

    plaintext: the password; hmac-*: HMAC(key=password, msg=seed) hex;
    seed-*: hash(seed + password) hex.  UTF-8 is assumed for non-ASCII text.
    Raises ``Ctp01ConfigError`` (a ``ValueError``) for ``none`` or an unknown method.
    """
    if method == "plaintext":
        return password
    if method not in SEEDED_METHODS:
        raise Ctp01ConfigError(f"no authentication string for method {method!r}")
    algo = method.split("-", 1)[1]
    if method.startswith("hmac-"):
        return hmac.new(password.encode(), seed.encode(), algo).hexdigest()
    return hashlib.new(algo, (seed + password).encode()).hexdigest()


def auth_matches(method: str, password: str, seed: str, given: str) -> bool:
    """Whether a client's ``authorize`` string is right (hex digests compared case-insensitively)."""
    expected = compute_auth_string(method, password, seed)
    given = given.strip()
    if method != "plaintext":
        given, expected = given.lower(), expected.lower()
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def offered_seed(method: str, seed: str | None) -> str | None:
    """The seed a server offers for ``method``: the caller's, else a random one; None if unused."""
    if method not in SEEDED_METHODS:
        return seed
    # the caller should pass a fresh seed; a random one is the only safe fallback
    seed = seed if seed is not None else secrets.token_hex(16)
    if not field_ok(seed):
        raise Ctp01ConfigError("seed must be non-empty latin-1 text without '~' or line breaks")
    return seed
