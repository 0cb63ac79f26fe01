"""Live sessions that decide alike share one crossing engine (issue #13: memory over a long race).

A session's engine (duplicate windows, starts, guns, parked tags: ``crossing``) follows from its
rules and the reads it decided, in order.  Open sessions with the same event, rules and streams
(``snapshot.fingerprint``) that decided the same reads hold equal engines: twenty sessions over
four setups held twenty engines where four do.  ``share`` gives a session that was just built
(created, bound, unbound, given new rules, reopened: a rebuild from the stored reads) the engine
of an open session with its fingerprint whose engine's state is the rebuilt one's, entry for
entry, in order.  So a session whose engine decided other reads, or the same ones while the
roster put a bib in another wave (a wave gun set by hand), keeps its own.  A read is then decided
once per engine (``LiveSession.decide``'s ``seen``); places, counts, seqs and unknown bibs stay
each session's own.  At start-up ``snapshot.twin`` shares the same way.

A shared engine only ever decides reads for all its sessions.  A session whose fingerprint or
status diverges gets an engine of its own first: a rebuild (new rules, a bind, an unbind) builds a
fresh one, closing keeps a copy (``leave``), and a read decided for one session alone (a replay of
a stream it is not bound to) copies it before it is decided (``LiveSession.own_engine``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from itertools import islice

from race_control.sessions.crossing import CrossingEngine
from race_control.sessions.live import LiveSession
from race_control.sessions.snapshot import fingerprint_of

__all__ = ["leave", "same_state", "share"]

COMPARE_SLICE = 20_000  # entries compared between two turns of the loop (a few ms)


async def same_state(a: CrossingEngine, b: CrossingEngine) -> bool:
    """Whether ``a`` and ``b`` have the same rules and state, every entry equal and in the same
    order; compared ``COMPARE_SLICE`` entries at a time with the loop free between slices (a big
    race's engine holds a few hundred thousand).  The caller holds the sessions lock, so neither
    engine decides a read meanwhile."""
    if a.rules != b.rules:
        return False
    pairs = list(zip(a.state(), b.state(), strict=True))
    if any(len(x) != len(y) for x, y in pairs):
        return False
    for x, y in pairs:
        ix, iy = iter(x.items()), iter(y.items())
        while chunk := list(islice(ix, COMPARE_SLICE)):
            if chunk != list(islice(iy, COMPARE_SLICE)):
                return False
            await asyncio.sleep(0)
    return True


async def share(s: LiveSession, sessions: Iterable[LiveSession]) -> CrossingEngine | None:
    """Give ``s`` — open and just rebuilt, so its engine is nobody else's — the engine of the first
    of ``sessions`` that is open, has its fingerprint, has decided the same reads (``decided_to``)
    and holds an engine equal to its own (``same_state``).  Returns the engine ``s`` gave up (the
    caller frees it in slices), else None.  The caller holds the sessions lock."""
    if s.status != "open" or not s.streams or s.engine_shared:
        return None
    fp = fingerprint_of(s)
    for x in sessions:
        if (
            x is s
            or x.status != "open"
            or x.engine is s.engine
            or x.decided_to != s.decided_to
            or fingerprint_of(x) != fp
        ):
            continue
        if await same_state(x.engine, s.engine):
            own = s.engine
            s.engine = x.engine
            s.engine_shared = x.engine_shared = True
            return own
    return None


def leave(s: LiveSession, sessions: Iterable[LiveSession]) -> None:
    """``s`` stops deciding alongside the others (it was closed): it keeps a copy of the engine it
    shared, as it stood, and the others go on with the engine."""
    if not s.engine_shared:
        return
    engine = s.engine
    s.own_engine()
    rest = [x for x in sessions if x is not s and x.engine is engine]
    if len(rest) == 1:
        rest[0].engine_shared = False
