"""SeqTracker: which seqs of a (stream, location) are stored, what each said, where to resume.

The resume cursor is the end of the contiguous run of stored seqs, never the highest one seen
(a spoofed seq 200000 must not make the real client skip to 200000), and a stored seq
remembers its content so a resend (same content) is told from a conflict (other content).
The same rules against a real server: tests/timing/test_stream_security.py.
"""

from __future__ import annotations

from race_control.timing.ingest.stored_read import SeqTracker, content_key


def test_the_cursor_is_the_end_of_the_contiguous_run_not_the_highest_seq() -> None:
    t = SeqTracker()
    for seq in (1, 2, 3, 5, 200_000):
        assert t.add(seq, seq)
    assert (t.low, t.last) == (3, 200_000)
    assert t.has(5) and t.has(200_000) and not t.has(4) and not t.has(6)
    assert t.add(4, 4)  # the gap is filled: the run absorbs 5
    assert (t.low, t.last, len(t)) == (5, 200_000, 6)
    assert not t.add(5, 5) and not t.add(200_000, 1)  # already stored
    assert t.add(0, 0) and t.has(0) and t.low == 5  # seq 0 is stored, but is no part of the run
    assert [t.key_of(s) for s in (1, 4, 5, 200_000, 0, 6)] == [1, 4, 5, 200_000, 0, None]
    assert t.cursor == 5


def test_a_stream_not_numbered_from_one_resumes_at_the_end_of_its_first_run() -> None:
    t = SeqTracker()  # RACE RESULT numbers file * 10**7 + n
    assert t.cursor == 0
    for seq in (70_000_001, 70_000_002, 70_000_003, 70_000_009):
        assert t.add(seq)
    assert (t.low, t.cursor, t.last) == (0, 70_000_003, 70_000_009)
    assert t.add(70_000_004) and t.cursor == 70_000_004
    assert t.add(200_000) and t.cursor == 200_000  # a lower seq: the run starts there now
    assert t.add(1) and t.cursor == 1  # numbered from 1 after all: 1..n
    for seq in range(2, 6):
        t.add(seq)
    assert t.cursor == 5


def test_a_stored_seq_remembers_what_it_said() -> None:
    t = SeqTracker()

    def read(seq: int, tag: str = "1234") -> int:
        return content_key("tag", tag, f"09:00:{seq:02d}.00", 0, "0FA22E", 1)

    for seq in (*range(1, 9), 20):  # 1..8 in the run, 20 above a gap
        assert t.add(seq, read(seq))
    for seq in (7, 20):
        assert not t.add(seq, read(seq))
        assert t.key_of(seq) == read(seq)  # the same read again: a resend
        others = (
            read(seq, tag="99999"),
            content_key("tag", "1234", f"09:00:{seq:02d}.01", 0, "0FA22E", 1),
            content_key("tag", "1234", f"09:00:{seq:02d}.00", 1, "0FA22E", 1),
            content_key("gun", "guntime", f"09:00:{seq:02d}.00", 0, "0FA22E", 0),
        )
        assert all(t.key_of(seq) != other for other in others)  # other content: a conflict
