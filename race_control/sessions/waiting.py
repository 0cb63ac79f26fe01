"""Finishes shown as "Bib N", waiting for the roster to name them (``LiveSession.unknown``).

A session keeps every such finish until a roster names its bib, so that screens get a
``correction`` then.  Kept as a whole finisher message each (a dict of ~26 keys, ~830 bytes),
a race whose reads are all of bibs nobody registered (a hostile client, a roster not loaded
yet) held one dict per read per session: 400,000 dicts, ~330 MB, at 60,000 reads x 20
sessions.  A ``Waiting`` keeps the session's own part of the message (its seq and places) and
the rest as a tuple of values, made once per crossing and shared by the sessions deciding it
(the same texts), with its keys shared by every message of the same shape.
"""

from __future__ import annotations

from typing import Any, NamedTuple

OWN = ("seq", "place", "division_place")  # a session's own part of a finisher message
_ABSENT = object()  # a message without the key (not the same as a None place)


class Waiting(NamedTuple):
    seq: int
    place: Any
    division_place: Any
    keys: tuple[str, ...]  # the message's other keys, in its order (shared, see ``shape``)
    values: tuple[Any, ...]


Shared = tuple[tuple[str, ...], tuple[Any, ...]]

_shapes: dict[tuple[str, ...], tuple[str, ...]] = {}
_new = tuple.__new__  # a Waiting without NamedTuple's Python-level __new__ (once per read per session)


def shape(keys: tuple[str, ...]) -> tuple[str, ...]:
    """One tuple object for every message with these keys (there are a handful of shapes)."""
    return _shapes.setdefault(keys, keys)


def shared_part(payload: dict[str, Any]) -> Shared:
    """``payload`` without the session's own part: made once per crossing."""
    keys = shape(tuple(k for k in payload if k not in OWN))
    return keys, tuple(payload[k] for k in keys)


def waiting_from(payload: dict[str, Any], shared: Shared | None = None) -> Waiting:
    """The finish ``payload`` (a finisher message, or one stored or snapshotted) as kept;
    ``shared``: its ``shared_part``, made already for another session."""
    keys, values = shared if shared is not None else shared_part(payload)
    return _new(
        Waiting,
        (payload["seq"], payload.get("place", _ABSENT), payload.get("division_place", _ABSENT), keys, values),
    )


def reopened(correction: dict[str, Any]) -> Waiting:
    """The finish a ``correction`` left nobody's (its runner moved to another bib), waiting for a
    name again: the finisher message it corrects, as the correction shows it."""
    finisher = {k: v for k, v in correction.items() if k != "corrects_seq"}
    finisher.update(type="finisher", seq=correction["corrects_seq"])
    return waiting_from(finisher)


def payload_of(w: Waiting) -> dict[str, Any]:
    """The finisher message ``w`` was made from (equal to it, keys in the same order but the
    session's own ones last)."""
    out = dict(zip(w.keys, w.values, strict=True))
    out["seq"] = w.seq
    if w.place is not _ABSENT:
        out["place"] = w.place
    if w.division_place is not _ABSENT:
        out["division_place"] = w.division_place
    return out


__all__ = ["OWN", "Shared", "Waiting", "payload_of", "reopened", "shape", "shared_part", "waiting_from"]
