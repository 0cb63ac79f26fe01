"""A display session's derived state as a stored snapshot, so start-up need not replay the race.

Everything a ``LiveSession`` derives from its reads (``replay``) is a function of the reads it
decided, in order: the crossing engine (duplicate windows, starts, guns, parked tags), the
places and leaderboard, the counts.  ``capture`` copies that state together with where it
stands — each stream's raw_n of the last read decided (``decided_to``; a stream's reads are
decided in raw_n order) and the last display seq — and ``restore`` gives back a session that
continues from there: start-up then decides only the reads stored after the snapshot
(``continuing``) instead of every read of the race.

A snapshot is only used if it still fits: the same format version, the same rules, streams and
event (``fingerprint``), and no position beyond what the store holds (a snapshot is written
only after the reads it covers are committed, so "ahead" means the store lost something: the
session is replayed instead).  ``SnapshotUnusable`` names why one was not used; the caller
replays the session from its reads, as before snapshots existed.

The bibs shown as "Bib N" come with the snapshot too (as of its last seq) and are brought up
to date from the display events stored after it (``unknown_after``), the way the live session
changed them.  Format: ``marshal`` of columns of tuples, zlib-compressed (``encode``, on a
worker thread next to the event loop); the unknown bibs are JSON.  ``marshal``'s format may
change between Python versions: a snapshot another Python cannot read is "unreadable", and that
session is replayed from its reads once, as after any refused snapshot.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import marshal
import struct
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain, islice
from operator import itemgetter
from typing import Any

from race_control.sessions.crossing import CrossingRules
from race_control.sessions.errors import SessionError
from race_control.sessions.live import Derived, LiveSession, Lookup
from race_control.sessions.replay import Replayed
from race_control.sessions.session_record import SessionRecord, new_live
from race_control.sessions.waiting import Waiting, payload_of, reopened, waiting_from
from race_control.timing.ingest.stored_read import StoredRead

__all__ = [
    "Captured",
    "SnapshotUnusable",
    "capture",
    "capture_sliced",
    "continuing",
    "encode",
    "encode_unknown",
    "fingerprint",
    "restore",
    "twin",
    "unknown_after",
    "unknown_of",
]

# 1: JSON; 2: marshal records one after another (read back by ``marshal.load`` from a file
# object: a Python-level ``readinto`` call per string it holds, ~40 % of a start-up with a
# 1,000,000-read session); both refused now: that session is replayed once, then snapshotted again
VERSION = 3
MAGIC = b"RCS3"  # format 3: this, then records each after its length (``_SIZE``)
_SIZE = struct.Struct("<I")
_BIG = frozenset(("last", "runs", "starts", "ranked", "times", "guns", "division_times"))
CHUNK = 2000  # reads decided between two yields of ``continuing`` (as ``replay.CHUNK``)


class SnapshotUnusable(SessionError, ValueError):
    """A stored snapshot that cannot be continued from (the message says why): start-up replays
    that session instead, so it never reaches a caller."""


def fingerprint(event_id: str, rules: CrossingRules, streams: Iterable[str]) -> str:
    """What a snapshot holds for: the same event, rules and streams decide the same reads the
    same way.  The rules' repr is exact (every field, floats in full) and changes with the
    class, so a snapshot from an older rules shape is not used."""
    text = json.dumps([event_id, repr(rules), sorted(streams)])
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint_of(s: LiveSession | SessionRecord) -> str:
    return fingerprint(s.event_id, s.rules, s.streams)


@dataclass(frozen=True)
class Captured:
    """A session's derived state at one moment, as copies nobody else mutates."""

    session_id: str
    fingerprint: str
    last_seq: int
    decided: int  # reads decided so far (finishers + suppressed): for pacing
    state: dict[str, Any]  # what follows from the reads alone: the same for sessions that share it
    unknown: dict[str, list[Waiting]]  # bibs shown as "Bib N": this session's own seqs


Records = tuple[bytes, ...]  # a big dict (or the times) as the snapshot's marshal records, in order


def _pair_records(keys: Iterable[Any], values: Iterable[Any]) -> Iterator[bytes]:
    """The snapshot's records of a dict's keys and values (in step): ``marshal`` of (keys, values)
    ``CHUNK_ITEMS`` at a time."""
    kit, vit = iter(keys), iter(values)
    while ks := tuple(islice(kit, CHUNK_ITEMS)):
        yield marshal.dumps((ks, tuple(islice(vit, CHUNK_ITEMS))))


def _seq_records(values: Iterable[Any]) -> Iterator[bytes]:
    it = iter(values)
    while vs := tuple(islice(it, CHUNK_ITEMS)):
        yield marshal.dumps(vs)


def _dict_records(d: dict[Any, Any]) -> Iterator[bytes]:
    return _pair_records(d, d.values())


def records_of(d: dict[Any, Any]) -> Records:
    """``d`` as the records a snapshot stores (``_pair_records``).  Made on the loop where the
    state is copied: bytes, which the garbage collector never walks and the encoder thread only
    compresses (zlib lets go of the GIL).  A copy as two tuples of a few hundred thousand
    entries each was walked whole by the next young collection (40-100 ms of the loop at 1M
    reads), and its ``marshal`` on the encoder thread held the GIL a call at a time while the
    loop waited for it (issue #13's stalls)."""
    return tuple(_dict_records(d))


async def _records_sliced(chunks: Iterator[bytes]) -> Records:
    """``chunks`` made with the loop free between them (one ``marshal`` call each: ~0.1 ms)."""
    out = []
    for r in chunks:
        out.append(r)
        await asyncio.sleep(0)
    return tuple(out)


def _engine_dicts(e: Any) -> tuple[tuple[str, dict[Any, Any]], ...]:
    """The engine's big dicts a snapshot copies, by their names in the state."""
    return ("last", e._last), ("runs", e._runs), ("starts", e._starts)


def capture(s: LiveSession, big: dict[str, Records] | None = None) -> Captured:
    """Copy ``s``'s derived state (on the loop, holding the sessions lock, so every read it has
    decided is committed and none is half-decided).  The big dicts and the times as their
    stored records (``records_of``); the rest as shallow copies (the dicts' values are
    immutable, except the sorted lists, which are copied too)."""
    e = s.engine
    if big is None:
        big = {name: records_of(d) for name, d in (*_engine_dicts(e), ("ranked", s._ranked))}
        big["times"] = tuple(_seq_records(s._times))
    state = {
        "v": VERSION,
        "pos": dict(s.decided_to),
        "finishers": s.finishers,
        "suppressed": s.suppressed,
        "last": big["last"],
        "runs": big["runs"],
        "guns": {k: list(v) for k, v in e._guns.items()},
        "starts": big["starts"],
        "ranked": big["ranked"],
        "times": big["times"],
        "division_times": {k: list(v) for k, v in s._division_times.items()},
    }
    unknown = {bib: list(payloads) for bib, payloads in s.unknown.items()}
    decided = s.finishers + s.suppressed
    return Captured(s.id, fingerprint_of(s), s.next_seq - 1, decided, state, unknown)


async def capture_sliced(s: LiveSession, engines: dict[int, dict[str, Records]] | None = None) -> Captured:
    """``capture``, letting the loop run after every record it makes.  The caller holds the
    sessions lock across it, so nothing changes the session meanwhile; other loop work
    (screens, the API) goes on.  ``engines``: the engines' records made already under this
    hold of the lock (by the engine's id), so sessions that share an engine
    (``engine_sharing``) share one copy of it too."""
    e = s.engine
    copied = engines.get(id(e)) if engines is not None else None
    if copied is None:
        copied = {}
        for name, d in _engine_dicts(e):
            copied[name] = await _records_sliced(_dict_records(d))
        if engines is not None:
            engines[id(e)] = copied
    ranked = await _records_sliced(_dict_records(s._ranked))
    times = await _records_sliced(_seq_records(s._times))
    return capture(s, {**copied, "ranked": ranked, "times": times})


def encode(c: Captured) -> tuple[bytes, bytes]:
    """The snapshot's stored bytes: its state and its unknown bibs (safe off the loop: ``c``
    is nobody else's).  Format 3 (``write_state``): ``marshal`` records of the state with each
    big dict as columns of tuples (keys, values) in chunks, zlib-compressed (its Adler-32
    check refuses a damaged blob before ``marshal`` reads it); the big ones were made by
    ``capture``, so here only the head is marshalled.  Format 1 was JSON: decoding it and
    converting every value was most of a big race's start-up (docs/benchmarks.md#restart)."""
    st = c.state
    head = {
        **{k: v for k, v in st.items() if k not in _BIG},
        "v": VERSION,
        "guns": {k: tuple(v) for k, v in st["guns"].items()},
        "division_times": {k: tuple(v) for k, v in st["division_times"].items()},
    }
    z = zlib.compressobj(1)
    return b"".join([*map(z.compress, _framed(head, st)), z.flush()]), encode_unknown(c)


_PAIRS = ("last", "runs", "starts", "ranked")  # dicts stored as (keys, values), in this order
CHUNK_ITEMS = 2_000  # entries a marshal record holds (one call: ~0.1 ms, made on the loop)


def _framed(head: dict[str, Any], records: Mapping[str, Records]) -> list[bytes]:
    """Format 3's pieces: ``MAGIC``, then the head (the state without its big parts), then for each
    of ``_PAIRS`` and ``times`` its number of records and the records, each after its length."""
    out = [MAGIC, _sized(marshal.dumps(head))]
    for name in (*_PAIRS, "times"):
        out.append(_sized(marshal.dumps(len(records[name]))))
        out.extend(map(_sized, records[name]))
    return out


def _sized(record: bytes) -> bytes:
    return _SIZE.pack(len(record)) + record


def write_state(state: dict[str, Any]) -> list[bytes]:
    """Format 3's pieces of a state whose big parts are columns (``read_state``'s shape)."""
    head = {k: v for k, v in state.items() if k not in (*_PAIRS, "times")}
    records = {name: tuple(_pair_records(*state[name])) for name in _PAIRS}
    return _framed(head, {**records, "times": tuple(_seq_records(state["times"]))})


class _Records:
    """Format 3's records of ``data``, one at a time: ``marshal.loads`` of each from its length
    (one C call a record, not ``marshal.load``'s Python call per string)."""

    def __init__(self, data: bytes) -> None:
        self.view = memoryview(data)
        self.at = len(MAGIC)

    def next(self) -> Any:
        at, view = self.at, self.view
        if at + _SIZE.size > len(view):
            raise EOFError("the state ends where a record should begin")
        (n,) = _SIZE.unpack_from(view, at)
        end = at + _SIZE.size + n
        if end > len(view):
            raise EOFError("a record runs past the end of the state")
        self.at = end
        return marshal.loads(view[at + _SIZE.size : end])

    def more(self) -> bool:
        return self.at < len(self.view)


def read_state(data: bytes) -> dict[str, Any]:
    """``write_state``'s records back as one state (``ValueError``/``EOFError``/``TypeError``
    for records that are not marshal data or do not follow one another as written).  Data of
    an older format gives what its first record says (``_decode`` names the format)."""
    if not data.startswith(MAGIC):
        return marshal.load(io.BytesIO(data))
    records = _Records(data)
    state = records.next()
    if not isinstance(state, dict) or state.get("v") != VERSION:
        return state
    for name in _PAIRS:
        chunks = [records.next() for _ in range(_count(records.next()))]
        state[name] = (
            tuple(chain.from_iterable(k for k, _ in chunks)),
            tuple(chain.from_iterable(v for _, v in chunks)),
        )
    state["times"] = tuple(chain.from_iterable(records.next() for _ in range(_count(records.next()))))
    if records.more():
        raise ValueError("more records than the state has")
    return state


def _count(n: object) -> int:
    if type(n) is not int or not 0 <= n <= 10_000:
        raise ValueError("not a chunk count")
    return n


UNKNOWN_SLICE = 500  # bibs a json.dumps call encodes (one C call holds the GIL throughout)


def encode_unknown(c: Captured) -> bytes:
    """The unknown bibs as JSON: bib -> its finisher messages (``unknown_of`` reads them back)."""
    return zlib.compress(dumps_sliced(c.unknown, convert=_as_payloads).encode(), 1)


def _as_payloads(waiting: list[Waiting]) -> list[dict[str, Any]]:
    return [payload_of(w) for w in waiting]


def dumps_sliced(
    d: dict[str, Any], size: int = UNKNOWN_SLICE, convert: Callable[[Any], Any] | None = None
) -> str:
    """``json.dumps(d, allow_nan=False)``'s very text, made ``size`` entries at a time: it runs
    on a worker thread, and one call over 20,000 bibs held the GIL (and the loop) ~60 ms.
    ``convert``: applied to each value first, a slice at a time (so its results for the whole
    dict never exist at once)."""
    items = list(d.items())
    if not items:
        return "{}"
    parts = []
    for i in range(0, len(items), size):
        piece = items[i : i + size]
        chunk = dict(piece) if convert is None else {k: convert(v) for k, v in piece}
        parts.append(json.dumps(chunk, allow_nan=False)[1:-1])
    return "{" + ", ".join(parts) + "}"


def unknown_of(blob: bytes) -> dict[str, list[Waiting]]:
    """A snapshot's unknown bibs (``SnapshotUnusable`` if unreadable)."""
    try:
        unknown = json.loads(zlib.decompress(blob))
    except (zlib.error, ValueError) as exc:
        raise SnapshotUnusable(f"unknown bibs unreadable ({exc})") from exc
    if not isinstance(unknown, dict) or not all(
        isinstance(v, list) and all(isinstance(p, dict) and isinstance(p.get("seq"), int) for p in v)
        for v in unknown.values()
    ):
        raise SnapshotUnusable("unknown bibs of an unexpected shape")
    return {str(bib): [waiting_from(p) for p in payloads] for bib, payloads in unknown.items()}


def _decode(blob: bytes) -> dict[str, Any]:
    try:
        state = read_state(zlib.decompress(blob))
    except (zlib.error, ValueError, EOFError, TypeError) as exc:
        raise SnapshotUnusable(f"unreadable ({exc})") from exc
    if not isinstance(state, dict) or state.get("v") != VERSION:
        raise SnapshotUnusable(f"format {state.get('v') if isinstance(state, dict) else '?'}, not {VERSION}")
    return state


def restore(
    rec: SessionRecord, lookup: Lookup, fp: str, blob: bytes, stored_to: Mapping[str, int]
) -> LiveSession:
    """A session for ``rec`` holding the snapshot ``blob`` (taken with fingerprint ``fp``).
    ``stored_to``: each stream's highest stored raw_n.  ``SnapshotUnusable`` if it does not fit."""
    if fp != fingerprint_of(rec):
        raise SnapshotUnusable("taken under other rules or streams")
    st = _decode(blob)
    try:
        pos = {str(k): int(v) for k, v in st["pos"].items()}
        for stream, n in pos.items():
            if stream not in rec.streams:
                raise SnapshotUnusable(f"it covers stream {stream[:64]!r}, which is not bound")
            if n > stored_to.get(stream, 0):
                raise SnapshotUnusable(f"it is ahead of the stored reads of stream {stream[:64]!r}")
        s = new_live(rec, lookup)
        e = s.engine
        e._last = _dict(st["last"], _pairs_of_text, _times)
        e._runs = _dict(st["runs"], _pairs_of_text, _time_pairs)
        e._guns = {str(k): list(_times(v)) for k, v in st["guns"].items()}
        e._starts = _dict(st["starts"], _texts, _times)
        s._ranked = _dict(st["ranked"], _texts, _ranked)
        s._times = list(_times(st["times"]))
        s._division_times = {str(k): list(_times(v)) for k, v in st["division_times"].items()}
        s.finishers = int(st["finishers"])
        s.suppressed = int(st["suppressed"])
        s.decided_to = pos
    except SnapshotUnusable:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SnapshotUnusable(f"an unexpected shape ({type(exc).__name__}: {exc})") from exc
    return s


# --- the snapshot's columns, checked a column at a time (C loops: a big race holds ~250,000 entries)
_NUMBER = frozenset((float, int))


def _dict(
    pair: Any, keys_ok: Callable[[tuple[Any, ...]], object], values: Callable[[Any], tuple[Any, ...]]
) -> dict[Any, Any]:
    keys, vals = pair
    if type(keys) is not tuple or type(vals) is not tuple or len(keys) != len(vals) or not keys_ok(keys):
        raise ValueError("keys and values do not pair up")
    return dict(zip(keys, values(vals), strict=True))


def _texts(keys: tuple[Any, ...]) -> bool:
    return set(map(type, keys)) <= {str}


def _pairs_of_text(keys: tuple[Any, ...]) -> bool:
    return (
        set(map(type, keys)) <= {tuple}
        and set(map(len, keys)) <= {2}
        and _texts(tuple(chain.from_iterable(keys)))
    )


def _times(values: Any) -> tuple[float, ...]:
    """Clock values as floats (an int among them made a float, as format 1's decode did)."""
    if type(values) is not tuple:
        raise ValueError("not a column")
    kinds = set(map(type, values))
    if not kinds <= _NUMBER:
        raise ValueError("a time that is not a number")
    return values if kinds <= {float} else tuple(map(float, values))


def _time_pairs(values: tuple[Any, ...]) -> tuple[tuple[float, float], ...]:
    if not set(map(type, values)) <= {tuple} or not set(map(len, values)) <= {2}:
        raise ValueError("a run that is not (first, last)")
    kinds = set(map(type, chain.from_iterable(values)))
    if kinds <= {float}:
        return values  # (as written: no pair made again)
    if not kinds <= _NUMBER:
        raise ValueError("a time that is not a number")
    return tuple((float(first), float(last)) for first, last in values)


def _ranked(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Leaderboard entries: (elapsed, name, time, division, city, state, known)."""
    if not set(map(type, values)) <= {tuple} or not set(map(len, values)) <= {7}:
        raise ValueError("a leaderboard entry of another shape")
    texts = chain.from_iterable(map(_RANKED_TEXTS, values))
    if not _texts(tuple(texts)) or not set(map(type, map(_KNOWN, values))) <= {bool}:
        raise ValueError("a leaderboard entry of other types")
    elapsed = tuple(map(_ELAPSED, values))
    if _times(elapsed) is elapsed:
        return values  # (every elapsed a float already: the entries as written)
    return tuple((float(v[0]), *v[1:]) for v in values)


_ELAPSED, _RANKED_TEXTS, _KNOWN = itemgetter(0), itemgetter(slice(1, 6)), itemgetter(6)


def twin(rec: SessionRecord, lookup: Lookup, of: LiveSession) -> LiveSession:
    """A session for ``rec`` holding what ``of`` derived, for a session with the same fingerprint
    (the same event, rules and streams decide the same reads the same way): the crossing engine
    is shared — ``LiveSession.decide`` runs a read through it once for all its sessions, so they
    cost one engine's memory and work — and the places and counts are copied (each session ranks
    its own finishers as it announces them).  No seqs or unknown bibs: those are the session's own."""
    assert fingerprint_of(rec) == fingerprint_of(of)
    s = new_live(rec, lookup)
    s.engine = of.engine
    s.engine_shared = of.engine_shared = True
    s._ranked = dict(of._ranked)
    s._times = list(of._times)
    s._division_times = {k: list(v) for k, v in of._division_times.items()}
    s.finishers, s.suppressed = of.finishers, of.suppressed
    s.decided_to = dict(of.decided_to)
    s.gun_dirty = s.board_dirty = True
    return s


def continuing(s: LiveSession, reads: Iterable[StoredRead]) -> Generator[None, None, Replayed]:
    """Decide ``reads`` (those stored after the snapshot, in arrival order) on the restored ``s``,
    announcing nothing (their display events are stored already) and keeping no suppression
    rows (stored too); yields every ``CHUNK`` reads.  Returns ``s`` as a ``Replayed``."""
    scratch = Derived()
    for i, read in enumerate(reads, start=1):
        s.decide(read, scratch, announce=False)
        scratch.suppressions.clear()
        if i % CHUNK == 0:
            yield
    s.gun_dirty = s.board_dirty = True  # screens need the race clock and leaderboard again
    return Replayed(s, Derived())


def unknown_after(
    unknown: dict[str, list[Waiting]], events: Iterable[tuple[str, dict[str, Any]]]
) -> dict[str, list[Waiting]]:
    """``unknown`` (bib -> finishes shown as "Bib N") after the display events ``events``
    ((kind, payload) in seq order): a finisher of an unknown bib joins it, a correction takes the
    finish it corrects out, and one that leaves the finish nobody's (the runner moved to another
    bib) puts it back as waiting for a name — as ``LiveSession.announce``/``apply_corrections``
    did live."""
    out = {bib: list(payloads) for bib, payloads in unknown.items()}
    for kind, p in events:
        bib = p.get("bib", "")
        if kind == "finisher" and not p.get("known", True):
            out.setdefault(bib, []).append(waiting_from(p))
        elif kind == "correction":
            finish = p.get("corrects_seq")
            kept = [old for old in out.get(bib, ()) if old.seq != finish]
            if not p.get("known", True):
                kept.append(reopened(p))
            if kept:
                out[bib] = kept
            else:
                out.pop(bib, None)
    return out
