"""A session restored from its snapshot and the reads after it is the session a full replay builds.

``sessions.snapshot`` is only worth having if it changes nothing: for every cut of a race (guns,
starts, a shared start/finish mat, a backup mat, duplicates, a parked tag, test tags, waves with a
gun by hand, unknown bibs, two streams), capture → encode → restore → continue over the rest must
give the same engine state, places, leaderboard and counts as replaying every read — and a
snapshot that does not fit (other rules, other streams, ahead of the store, damaged, another
format) is refused with the reason, never half used.
"""

from __future__ import annotations

import gc
import json
import marshal
import zlib
from itertools import chain
from typing import Any

import pytest

from race_control.roster.participants import ParticipantRow
from race_control.sessions.crossing import CrossingRules
from race_control.sessions.live import Derived, LiveSession
from race_control.sessions.replay import replaying
from race_control.sessions.session_record import SessionRecord
from race_control.sessions.snapshot import (
    MAGIC,
    SnapshotUnusable,
    _sized,
    capture,
    capture_sliced,
    continuing,
    dumps_sliced,
    encode,
    fingerprint_of,
    read_state,
    restore,
    twin,
    unknown_after,
    unknown_of,
    write_state,
)
from race_control.sessions.waiting import Waiting, payload_of, waiting_from
from race_control.timing.ingest.stored_read import StoredRead
from tests.helpers.loop_turns import loop_turns

RULES = CrossingRules.from_json(
    {
        "locations": ["finish", "9k"],
        "start_locations": ["start", "finish"],
        "min_time_since_start": 600,
        "duplicate_window": 30,
        "lines": [{"location": "9kb", "line": "9k"}],
        "stray_after": 120,
        "waves": {"B": "09:10:00"},
    }
)
RUNNERS = {
    str(b): ParticipantRow(
        bib=str(b),
        first_name=f"Ann{b}",
        last_name="Lee",
        division=("F30-39", "M30-39", "")[b % 3],
        city="Boise",
        wave="B" if b % 4 == 0 else "",
    )
    for b in range(1, 41)
}


def lookup(_event: str, bib: str) -> ParticipantRow | None:
    return RUNNERS.get(bib)


def race() -> list[StoredRead]:
    """Two streams' reads in arrival order (``queries.stream_reads``' order)."""
    reads: list[StoredRead] = []
    raw = {"s1": 0, "s2": 0}

    def add(stream: str, location: str, bib: str, clock: float, kind: str = "tag") -> None:
        raw[stream] += 1
        n = raw[stream]
        reads.append(
            StoredRead(
                stream, location, n, kind, bib, bib, f"{clock:.2f}", clock, 0, "", 0, n, 1e9 + len(reads)
            )
        )

    add("s1", "start", "", 9 * 3600.0, "gun")
    for b in range(1, 41):
        add("s1", "start", str(b), 9 * 3600 + b)  # starts
    for b in range(1, 41):
        add("s2", "9k" if b % 2 else "9kb", str(b), 9 * 3600 + 1800 + b * 7)
        add("s2", "9k", str(b), 9 * 3600 + 1800 + b * 7 + 2)  # a backup mat's second read: duplicate
    add("s2", "9k", "99997", 9 * 3600 + 1900)  # a test tag
    for t in range(0, 400, 5):
        add("s1", "finish", "777", 9 * 3600 + 3000 + t)  # parked near the mat: stray
    for b in range(1, 45):  # 41..44 wear no registered bib: "Bib N"
        add("s1", "finish", str(b), 9 * 3600 + 3600 + b * 11)
        if b % 5 == 0:
            add("s1", "finish", str(b), 9 * 3600 + 3600 + b * 11 + 4)  # duplicate
    add("s1", "finish", "3", 9 * 3600 + 300)  # too soon (an early re-read)
    return reads


def record(
    streams: frozenset[str] = frozenset({"s1", "s2"}), rules: CrossingRules = RULES, sid: str = "sess-1"
) -> SessionRecord:
    return SessionRecord(sid, "tok", "ev-1", "Finish", "results", None, rules, "open", 1.0, streams=streams)


def run(steps: Any) -> Any:
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def state(s: LiveSession) -> dict[str, Any]:
    e = s.engine
    return {
        "last": e._last,
        "runs": e._runs,
        "guns": e._guns,
        "starts": e._starts,
        "ranked": s._ranked,
        "times": s._times,
        "division_times": s._division_times,
        "finishers": s.finishers,
        "suppressed": s.suppressed,
        "decided_to": s.decided_to,
        "leaderboard": s.leaderboard(10),
    }


def stored_to(reads: list[StoredRead]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in reads:
        out[r.stream_id] = max(out.get(r.stream_id, 0), r.raw_n)
    return out


def after(reads: list[StoredRead], pos: dict[str, int]) -> list[StoredRead]:
    return [r for r in reads if r.raw_n > pos.get(r.stream_id, 0)]


@pytest.mark.parametrize("cut", [0, 1, 41, 90, 123, 170, 200, -1])
def test_restored_and_continued_equals_a_full_replay(cut: int) -> None:
    reads = race()
    cut = len(reads) if cut == -1 else cut
    whole = run(replaying(record(), lookup, reads, log=False)).session
    part = run(replaying(record(), lookup, reads[:cut], log=False)).session
    c = capture(part)
    restored = restore(record(), lookup, c.fingerprint, encode(c)[0], stored_to(reads))
    assert restored.decided_to == part.decided_to
    done = run(continuing(restored, after(reads, restored.decided_to))).session
    assert state(done) == state(whole)
    assert whole.finishers > 40 and whole.suppressed > 100  # the race has every kind of decision
    assert set(whole.leaderboard(5)["divisions"]) == {"F30-39", "M30-39"}


def test_a_restored_session_decides_the_next_read_as_the_live_one_does() -> None:
    """The duplicate window and the start survive: a re-read 3 s after bib 7's finish is a
    duplicate, bib 7's chip time counts from its start."""
    reads = race()
    live = run(replaying(record(), lookup, reads, log=False)).session
    c = capture(live)
    restored = restore(record(), lookup, c.fingerprint, encode(c)[0], stored_to(reads))
    finish_7 = next(r for r in reads if r.bib == "7" and r.location == "finish")
    again = StoredRead("s1", "finish", 999, "tag", "7", "7", "x", finish_7.clock + 3, 0, "", 0, 999, 2e9)
    ref = live.engine.process(again)
    got = restored.engine.process(again)
    assert got == ref and type(got).__name__ == "Suppressed" and got.code == "duplicate"  # type: ignore[union-attr]
    ranked = restored._ranked["7"]
    assert ranked == live._ranked["7"] and ranked[1] == "Ann7 Lee"


def test_a_snapshot_for_other_rules_or_streams_is_refused() -> None:
    reads = race()
    s = run(replaying(record(), lookup, reads, log=False)).session
    c = capture(s)
    blob = encode(c)[0]
    other_rules = record(rules=CrossingRules.from_json({**RULES.to_json(), "duplicate_window": 31}))
    with pytest.raises(SnapshotUnusable, match="other rules or streams"):
        restore(other_rules, lookup, c.fingerprint, blob, stored_to(reads))
    one_stream = record(streams=frozenset({"s1"}))
    with pytest.raises(SnapshotUnusable, match="other rules or streams"):
        restore(one_stream, lookup, c.fingerprint, blob, stored_to(reads))
    assert fingerprint_of(record()) == c.fingerprint


def test_a_snapshot_ahead_of_the_store_is_refused() -> None:
    """The store lost its last transactions (a disk that lied about flushing): the snapshot
    claims reads that are not stored, so the session is replayed instead."""
    reads = race()
    s = run(replaying(record(), lookup, reads, log=False)).session
    c = capture(s)
    short = stored_to(reads)
    short["s1"] -= 1
    with pytest.raises(SnapshotUnusable, match="ahead of the stored reads of stream 's1'"):
        restore(record(), lookup, c.fingerprint, encode(c)[0], short)


def _good() -> dict[str, Any]:
    session = run(replaying(record(), lookup, race(), log=False)).session
    return read_state(zlib.decompress(encode(capture(session))[0]))


def _blob(state: dict[str, Any]) -> bytes:
    return zlib.compress(b"".join(write_state(state)))


def _framed(*records: Any) -> bytes:
    """Format 3's blob of these records as they are (``MAGIC``, each after its length)."""
    return zlib.compress(MAGIC + b"".join(_sized(marshal.dumps(r)) for r in records))


def _with(**changes: Any) -> bytes:
    return _blob({**_good(), **changes})


_EMPTY = {"last": ((), ()), "runs": ((), ()), "starts": ((), ()), "ranked": ((), ()), "times": ()}


def _column(name: str, fn: Any) -> bytes:
    st = _good()
    keys, values = st[name]
    return _with(**{name: fn(keys, values)})


@pytest.mark.parametrize(
    ("blob", "why"),
    [
        (b"not zlib at all", "unreadable"),
        (zlib.compress(b"{not marshal data"), "unreadable"),
        (_framed({"v": 3, "pos": {}})[:-3], "unreadable"),  # cut short
        (zlib.compress(json.dumps({"v": 1, "pos": {}}).encode()), "unreadable|format"),  # format 1
        (zlib.compress(marshal.dumps({"v": 2, "pos": {}})), "format 2, not 3"),  # format 2
        (_framed({"v": 99}), "format 99, not 3"),
        (_framed([1, 2]), "format ?"),
        (_framed({"v": 3, "pos": {}}), "unreadable"),  # no columns after it
        (
            zlib.compress(MAGIC + b"\xff\xff\xff\x7f" + marshal.dumps({"v": 3})),
            "unreadable",
        ),  # a length too long
        (_blob({"v": 3, "pos": {}, **_EMPTY}), "unexpected shape"),  # no counts, no guns
        (_blob({"v": 3, "pos": {"s1": "x"}, **_EMPTY}), "unexpected shape"),
        (
            zlib.compress(b"".join(write_state({**_good(), **_EMPTY})) + _sized(marshal.dumps(1))),
            "unreadable",
        ),
        (_column("last", lambda k, v: (k, v[:-1])), "unexpected shape"),  # a value short
        (_column("last", lambda k, v: (k, ("12:00", *v[1:]))), "unexpected shape"),  # a time as text
        (_column("runs", lambda k, v: (k, ((1.0,), *v[1:]))), "unexpected shape"),  # not (first, last)
        (_column("starts", lambda k, v: ((7, *k[1:]), v)), "unexpected shape"),  # a bib not text
        (_column("ranked", lambda k, v: (k, ((*v[0][:6], "yes"), *v[1:]))), "unexpected shape"),
        (_framed({"v": 3}, "2"), "unreadable"),  # a count as text
    ],
)
def test_a_damaged_snapshot_is_refused_with_the_reason(blob: bytes, why: str) -> None:
    with pytest.raises(SnapshotUnusable, match=why):
        restore(record(), lookup, fingerprint_of(record()), blob, {"s1": 10_000, "s2": 10_000})


def test_a_good_blob_of_the_same_shape_restores() -> None:
    # the damaged cases above are refused for what they change, not for the rest of the blob
    reads = race()
    restored = restore(record(), lookup, fingerprint_of(record()), _with(), stored_to(reads))
    assert restored.finishers > 40 and restored.engine._last


def test_the_snapshot_is_a_copy_the_live_session_does_not_change() -> None:
    """Captured on the loop, encoded on a worker thread while the session goes on deciding."""
    reads = race()
    s = run(replaying(record(), lookup, reads[:100], log=False)).session
    c = capture(s)
    before = encode(c)
    run(continuing(s, reads[100:]))
    after = encode(c)
    # the same content (marshal's bytes may differ: it marks an object shared only while its
    # reference count says so, and the live session let go of values the copy still holds)
    assert read_state(zlib.decompress(after[0])) == read_state(zlib.decompress(before[0]))
    assert after[1] == before[1]
    assert read_state(zlib.decompress(before[0]))["finishers"] < s.finishers  # it did go on


def as_payloads(unknown: dict[str, list[Waiting]]) -> dict[str, list[dict[str, Any]]]:
    return {bib: [payload_of(w) for w in ws] for bib, ws in unknown.items()}


def test_unknown_bibs_follow_the_events_after_the_snapshot() -> None:
    shown = {"41": [waiting_from({"type": "finisher", "seq": 3, "bib": "41", "known": False})]}
    events = [
        ("finisher", {"type": "finisher", "seq": 4, "bib": "42", "known": False}),
        ("finisher", {"type": "finisher", "seq": 5, "bib": "7", "known": True}),
        ("correction", {"type": "correction", "seq": 6, "bib": "41", "known": True, "corrects_seq": 3}),
        # bib 7's runner moved to another bib: the finish is nobody's, waiting for a name
        ("correction", {"type": "correction", "seq": 7, "bib": "7", "known": False, "corrects_seq": 5}),
    ]
    out = unknown_after(shown, events)
    assert as_payloads(out) == {
        "42": [{"type": "finisher", "seq": 4, "bib": "42", "known": False}],
        "7": [{"type": "finisher", "seq": 5, "bib": "7", "known": False}],
    }
    assert as_payloads(shown) == {
        "41": [{"type": "finisher", "seq": 3, "bib": "41", "known": False}]
    }  # not changed


def test_the_unknown_bibs_are_stored_apart_and_read_back() -> None:
    reads = race()
    s = run(replaying(record(), lookup, reads, log=False)).session
    shown = {"type": "finisher", "seq": 9, "bib": "41", "known": False, "place": 3, "division_place": None}
    s.unknown = {"41": [waiting_from(shown)]}
    _state, unknown = encode(capture(s))
    assert json.loads(zlib.decompress(unknown)) == {"41": [shown]}  # the messages, as screens got them
    assert unknown_of(unknown) == s.unknown
    with pytest.raises(SnapshotUnusable, match="unknown bibs unreadable"):
        unknown_of(b"garbage")
    with pytest.raises(SnapshotUnusable, match="unexpected shape"):
        unknown_of(zlib.compress(b'{"41": 3}'))
    with pytest.raises(SnapshotUnusable, match="unexpected shape"):
        unknown_of(zlib.compress(b'{"41": [{"bib": "41"}]}'))  # a finish without its seq


@pytest.mark.parametrize("cut", [0, 90, 170])
def test_twins_share_one_engine_and_decide_each_read_once(cut: int) -> None:
    """Two sessions with the same rules and streams: the second is the first's twin (one engine
    between them).  Deciding the rest of the race through both, each read once per engine, gives
    each exactly what a session of its own would hold, and each announces every finisher with
    its own seqs."""
    reads = race()
    a = run(replaying(record(), lookup, reads[:cut], log=False)).session
    b = twin(record(sid="sess-2"), lookup, a)
    assert b.engine is a.engine and b._ranked == a._ranked and b._ranked is not a._ranked
    b.next_seq = 100
    before = a.finishers
    out = Derived()
    for read in reads[cut:]:
        seen: dict[int, object] = {}
        a.decide(read, out, seen=seen)  # type: ignore[arg-type]
        b.decide(read, out, seen=seen)  # type: ignore[arg-type]
    alone = run(replaying(record(), lookup, reads, log=False)).session
    assert state(a) == state(alone) and state(b) == state(alone)
    new = alone.finishers - before
    assert new > 0
    assert [e["seq"] for e in out.events if e["session_id"] == "sess-1"] == list(range(1, new + 1))
    assert [e["seq"] for e in out.events if e["session_id"] == "sess-2"] == list(range(100, 100 + new))


async def test_a_sliced_capture_is_the_capture_and_lets_the_loop_run() -> None:
    """The keeper copies a big session a dict at a time: the same snapshot, with other
    coroutines running between the dicts."""
    s = run(replaying(record(), lookup, race(), log=False)).session
    async with loop_turns() as turns:
        sliced = await capture_sliced(s)
    assert sliced == capture(s)
    assert turns.count >= 4  # a turn of the loop after each record of the engine's dicts and the places


def test_whole_numbers_among_the_times_come_back_as_floats() -> None:
    st = _good()
    (keys, values), (rkeys, rvalues) = st["runs"], st["ranked"]
    blob = _with(
        times=(1, *st["times"][1:]),
        runs=(keys, ((3, 4), *values[1:])),
        ranked=(rkeys, ((60, *rvalues[0][1:]), *rvalues[1:])),
    )
    s = restore(record(), lookup, fingerprint_of(record()), blob, stored_to(race()))
    assert type(s._times[0]) is float and s._times[0] == 1.0
    assert s.engine._runs[keys[0]] == (3.0, 4.0) and type(s.engine._runs[keys[0]][0]) is float
    assert type(s._ranked[rkeys[0]][0]) is float


def test_big_columns_are_written_in_chunks_and_read_back_whole() -> None:
    # a chunk is one marshal call (it holds the GIL next to the event loop): a few ms each
    from race_control.sessions.snapshot import CHUNK_ITEMS

    n = 2 * CHUNK_ITEMS + 5
    keys = tuple((f"{i}", "Finish") for i in range(n))
    state = {
        "v": 3,
        "pos": {"s1": 9},
        "last": (keys, tuple(float(i) for i in range(n))),
        "runs": ((), ()),
        "starts": (tuple(f"{i}" for i in range(n)), (0.5,) * n),
        "ranked": ((), ()),
        "times": tuple(float(i) for i in range(n)),
    }
    records = write_state(state)
    assert records[0] == MAGIC
    assert len(records) == 1 + 1 + (1 + 3) + (1 + 0) + (1 + 3) + (1 + 0) + (1 + 3)
    assert max(len(marshal.loads(r[4:])[0]) for r in records[3:6]) == CHUNK_ITEMS
    assert read_state(b"".join(records)) == state


def test_the_unknown_bibs_are_json_dumps_text_made_a_slice_at_a_time() -> None:
    # the worker thread encodes them a slice at a time (one C call held the GIL, and so the
    # loop, for the whole dict); the text must be json.dumps's own, NaN refused as there
    unknown = {f"{b}": [{"seq": b, "bib": f"{b}", "name": 'Zoë "Q" \\', "t": b / 7}] for b in range(1, 1203)}
    for size in (1, 7, 500, 5000):
        assert dumps_sliced(unknown, size) == json.dumps(unknown, allow_nan=False)
    assert dumps_sliced({}) == "{}" == json.dumps({})
    with pytest.raises(ValueError):
        dumps_sliced({"1": [{"t": float("nan")}]})


def test_a_capture_keeps_the_big_dicts_as_their_stored_records() -> None:
    """A snapshot round copies a few hundred thousand entries: as the marshal records the
    snapshot stores (bytes, which the garbage collector never walks and the encoder thread only
    compresses), ``CHUNK_ITEMS`` entries each, not as tuples a young collection walks whole."""
    from race_control.sessions.snapshot import CHUNK_ITEMS

    s = run(replaying(record(), lookup, race(), log=False)).session
    for i in range(CHUNK_ITEMS + 5):  # a bigger race's places: more than one record
        s._ranked[f"x{i}"] = s._ranked[next(iter(s._ranked))]
    c = capture(s)
    for name, d in (("last", s.engine._last), ("runs", s.engine._runs), ("ranked", s._ranked)):
        records = c.state[name]
        assert type(records) is tuple and records and all(type(r) is bytes for r in records)
        chunks = [marshal.loads(r) for r in records]
        assert all(len(k) == len(v) <= CHUNK_ITEMS for k, v in chunks)
        assert (
            dict(
                zip(
                    chain.from_iterable(k for k, _ in chunks),
                    chain.from_iterable(v for _, v in chunks),
                    strict=True,
                )
            )
            == d
        )
    assert len(c.state["ranked"]) == -(-len(s._ranked) // CHUNK_ITEMS)
    assert tuple(chain.from_iterable(marshal.loads(r) for r in c.state["times"])) == tuple(s._times)
    assert not any(
        gc.is_tracked(r) for name in ("last", "runs", "starts", "ranked", "times") for r in c.state[name]
    )


def test_a_capture_makes_little_more_than_it_keeps() -> None:
    """What a capture allocates and frees again (the pages of such short-lived objects stay in
    use among the long-lived ones made meanwhile) is one record's making at a time: it does not
    grow with the race, while the copy it keeps does."""
    import tracemalloc

    def transient(places: int) -> tuple[int, int]:
        s = run(replaying(record(), lookup, race(), log=False)).session
        for i in range(places):  # a bigger race's places
            s._ranked[f"x{i}"] = s._ranked[next(iter(s._ranked))]
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            c = capture(s)
            kept, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert marshal.loads(c.state["ranked"][-1])[0][-1] == f"x{places - 1}"
        return kept - base, peak - kept

    small_kept, small_made = transient(5_000)
    big_kept, big_made = transient(50_000)
    assert big_kept > 5 * small_kept  # the copy grows with the race...
    assert big_made < 1.5 * small_made, (small_made, big_made)  # ...what it makes and frees does not
