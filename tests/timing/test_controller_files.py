"""ChronoTrack controller files: every firmware variant, quarantined rows, the real 2021 data."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from race_control.timing.protocols import controller_files
from race_control.timing.protocols.controller_files import (
    ControllerFileError,
    ControllerRead,
    FileRowError,
    Marker,
    load_controller_dir,
    load_controller_file,
    marker_epoch,
    parse_marker_line,
    parse_markers,
    parse_read_line,
    parse_reads,
    parse_stamp,
    to_timing_events,
)
from race_control.timing.protocols.events import GunTime, TagRead

DATA = Path(__file__).resolve().parents[1] / "data" / "chronotrack-2021"
RACE_DAY = dt.date(2021, 5, 8)


# --- TO~ lines: every variant ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (  # current firmware, 12 fields
            "TO~1~9511~160~18~1620458668.64~12000C~8~-63~1~P~192",
            ControllerRead(1, "9511", 160, 18, 1620458668.64, "12000C", 8, -63, 1, "P", 192, ""),
        ),
        (  # older firmware: every number zero-padded
            "TO~000001~009573~160~018~1620460343.17~104484~8~-71~00001~P~10",
            ControllerRead(1, "9573", 160, 18, 1620460343.17, "104484", 8, -71, 1, "P", 10, ""),
        ),
        (  # 11 fields, no read count (test tag, event code 1)
            "TO~1~99995~160~1~1620459054.85~10E747~8~-59~1~P",
            ControllerRead(1, "99995", 160, 1, 1620459054.85, "10E747", 8, -59, 1, "P", None, ""),
        ),
        (  # lower-case MAC, CRLF left on, blanks around fields
            "TO~ 7 ~0~160~13~1620462257.6~12009e~2~-29~7~P~71\r\n",
            ControllerRead(7, "0", 160, 13, 1620462257.6, "12009E", 2, -29, 7, "P", 71, ""),
        ),
    ],
)
def test_read_variants(line: str, expected: ControllerRead) -> None:
    rec = parse_read_line(line)
    assert rec == ControllerRead(**{**_fields(expected), "line": line.strip()})


def _fields(rec: ControllerRead) -> dict[str, object]:
    return {name: getattr(rec, name) for name in rec.__dataclass_fields__}


def test_centis_are_exact() -> None:
    assert parse_read_line("TO~1~1~160~18~1620458668.64~12000C~8~-63~1~P~1").centis == 162045866864


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("TO~1~9511~160~18~1620458668.64~12000C~8~-63~1", "expected 11 or 12 fields"),
        ("TO~1~9511~160~18~1620458668.64~12000C~8~-63~1~P~192~x", "expected 11 or 12 fields"),
        ("XX~1~9511~160~18~1620458668.64~12000C~8~-63~1~P~192", "not a TO~ observation line"),
        ("TO~1~9511~160~18~yesterday~12000C~8~-63~1~P~192", "bad epoch"),
        ("TO~1~9511~160~18~0~12000C~8~-63~1~P~192", "epoch time out of range"),
        ("TO~1~9511~160~18~1620458668.64~ZZ000C~8~-63~1~P~192", "bad reader MAC"),
        ("TO~one~9511~160~18~1620458668.64~12000C~8~-63~1~P~192", "sequence is not an integer"),
        ("TO~-1~9511~160~18~1620458668.64~12000C~8~-63~1~P~192", "negative sequence"),
        ("TO~1~95 11~160~18~1620458668.64~12000C~8~-63~1~P~192", "bad tag"),
        ("TO~1~9511~160~18~1620458668.64~12000C~8~-63~1~P~many", "read count is not an integer"),
    ],
)
def test_bad_read_lines(line: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_read_line(line)


@pytest.mark.parametrize("piece", [1, 40, 57, 10_000])
def test_bad_rows_are_quarantined_with_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piece: int
) -> None:
    monkeypatch.setattr(controller_files, "PIECE", piece)  # lines split a piece at a time
    text = (
        "\ufeffTO~1~9511~160~18~1620458668.64~12000C~8~-63~1~P~192\r\n"
        "TO~2~9511~160~18~1620458677.69~12000C~2~-73~2~P\r\n"  # 11 fields: fine
        "\r\n"  # blank: skipped silently
        "TO~3~9511~160~18~16204586\r\n"  # truncated (power loss mid-write)
        "garbage\x00\r\n"
        "TO~000004~000012~160~018~1620458716.43~120044~1~-65~00001~P~151\r\n"
        "TO~5~12~160~18~1620458716.43~120044~1~-65~2~P~1"  # no final newline
    )
    path = tmp_path / "FINISH" / "1.csv"
    path.parent.mkdir()
    path.write_bytes(text.encode("utf-8"))
    data = load_controller_file(path)
    assert [(r.sequence, r.tag, r.line_no) for r in data.reads] == [
        (1, "9511", 1),
        (2, "9511", 2),
        (4, "12", 6),
        (5, "12", 7),
    ]
    assert [(e.line_no, e.path) for e in data.errors] == [(4, str(path)), (5, str(path))]
    assert all(isinstance(e, FileRowError) and e.reason for e in data.errors)
    assert data.errors[0].line == "TO~3~9511~160~18~16204586"
    assert data.reads[1].read_count is None


def test_parse_reads_from_text_never_raises() -> None:
    reads, errors = parse_reads("TO~1\n\xff\xfe\nTO~1~1~1~1~1.5~A~1~1~1~P~1\n", "x.csv")
    assert len(reads) == 1
    assert [e.line_no for e in errors] == [1, 2]


# --- .mrk -------------------------------------------------------------------------------------


def test_marker_gun() -> None:
    m = parse_marker_line("I11A9D,32,Gun,252,21050808005516,Button Press")
    assert m == Marker(
        "I11A9D", 32, "Gun", None, 252, dt.datetime(2021, 5, 8, 8, 0, 55, 160000), "Button Press", m.line
    )
    assert m.is_gun


def test_marker_time_change_and_1980_reset() -> None:
    m = parse_marker_line("I11A9D,31,TimeChange,1,21050807110284,21050807110572")
    assert m.kind == "TimeChange"
    assert m.when == dt.datetime(2021, 5, 8, 7, 11, 2, 840000)
    assert m.value == dt.datetime(2021, 5, 8, 7, 11, 5, 720000)
    reset = parse_marker_line("E92EBB,4,TimeChange,1,21050807134000,80010100012824")
    assert reset.value == dt.datetime(1980, 1, 1, 0, 1, 28, 240000)
    assert not reset.is_gun


def test_marker_other_kinds_keep_detail() -> None:
    m = parse_marker_line("I11A9D,40,GeneralAlert,11826,21050811051795,AC Power Lost, again")
    assert (m.kind, m.detail, m.value, m.tag_seq) == ("GeneralAlert", "AC Power Lost, again", None, 11826)
    assert parse_marker_line("I2FB10,25,PB Model,1,21050808195412,PRO_SERIES2").kind == "PB Model"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("I11A9D,32,Gun,252,21050808005516", "expected 6"),
        ("I11A9D,32,Gun,252,21130808005516,Button Press", "invalid stamp"),
        ("I11A9D,32,Gun,252,2105080800551,Button Press", "bad YYMMDDhhmmsscc"),
        ("I11A9D,x,Gun,252,21050808005516,Button Press", "marker sequence"),
        (",32,Gun,252,21050808005516,Button Press", "empty controller"),
    ],
)
def test_bad_marker_lines(line: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_marker_line(line)
    markers, errors = parse_markers("I11A9D,1,Powerup,1,21050807094624,Controller\n" + line, "m.mrk")
    assert len(markers) == 1
    assert [(e.line_no, e.path) for e in errors] == [(2, "m.mrk")]


def test_stamp_century_pivot() -> None:
    assert parse_stamp("80010100000000").year == 1980
    assert parse_stamp("21050808005516").year == 2021


# --- unreadable files -------------------------------------------------------------------------


def test_unreadable_files_raise_typed_error(tmp_path: Path) -> None:
    with pytest.raises(ControllerFileError, match="cannot read"):
        load_controller_file(tmp_path / "missing.csv")
    with pytest.raises(ControllerFileError, match="not a controller file"):
        load_controller_file(tmp_path / "x.ati")
    with pytest.raises(ControllerFileError, match="not a folder"):
        load_controller_dir(tmp_path / "nope")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(ControllerFileError, match="cannot read"):
        load_controller_file(tmp_path / "dir.csv")


# --- the real 2021 files (counts checked with `wc -l`: every line ends in CRLF) ------------------

REAL = {
    # folder: (reads, markers, guns)
    "FINISH1": (13716, 42, 7),
    "START1": (677 + 6669, 33 + 37, 5),
    "9K": (849, 32, 0),
    "19K": (918, 32, 0),
}


@pytest.mark.parametrize("folder", sorted(REAL))
def test_real_folders_parse_completely(folder: str) -> None:
    data = load_controller_dir(DATA / folder)
    reads, markers, guns = REAL[folder]
    assert data.errors == []
    assert len(data.reads) == reads
    assert len(data.markers) == markers
    assert sum(m.is_gun for m in data.markers) == guns
    assert [f.suffix for f in data.files] == [".csv", ".mrk"] * (len(data.files) // 2)
    # every row of every file is accounted for
    assert len(data.reads) + len(data.markers) == sum(len(f.read_bytes().splitlines()) for f in data.files)


def test_real_test_tags_and_event_codes() -> None:
    data = load_controller_dir(DATA / "19K")
    test_tags = {r.tag for r in data.reads if r.event_code == 13}
    assert test_tags <= {"99995", "99996", "99997", "99998"}
    assert "99997" in test_tags
    assert {r.read_count is None for r in data.reads} == {False}


def test_real_gun_times() -> None:
    data = load_controller_dir(DATA / "FINISH1")
    guns = [m.when.strftime("%H:%M:%S.%f")[:11] for m in data.markers if m.is_gun]
    assert guns == [
        "08:00:55.16",
        "08:05:55.52",
        "08:15:55.42",
        "08:20:55.42",
        "08:35:55.54",
        "09:00:55.32",
        "16:56:19.41",  # pressed at teardown, after "AC Power Lost"
    ]


def test_mrk_clock_is_the_epoch_clock_read_as_utc() -> None:
    """The time-zone finding: .mrk wall time == TO~ epoch rendered in UTC, to under a second.

    A marker's 4th field is the sequence the *next* read gets, so each marker sits
    right after read ``tag_seq - 1``.  Any whole-hour offset would miss by hours.
    """
    data = load_controller_dir(DATA / "FINISH1")
    by_seq = {r.sequence: r for r in data.reads}
    checked = 0
    for m in data.markers:
        before, after = by_seq.get(m.tag_seq - 1), by_seq.get(m.tag_seq)
        if before is None or after is None:
            continue
        # the two readers' observations interleave slightly out of order: allow 1 s
        low, high = sorted((before.epoch, after.epoch))
        assert low - 1.0 <= marker_epoch(m) <= high + 1.0, m.line
        checked += 1
    assert checked == 9  # 6 guns, Power, Manual, GeneralAlert


def test_to_timing_events_numbering_and_clock() -> None:
    data = load_controller_dir(DATA / "FINISH1")
    events = to_timing_events(data.reads, data.markers, "FINISH1", "UTC", RACE_DAY)
    assert len(events) == 13716 + 7
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    first = events[0]
    assert first == TagRead(
        "FINISH1",
        1,
        "9511",
        "07:24:28.64",
        26668.64,
        lap=1,
        reader_id="12000C",
        gator=8,
        line="TO~1~9511~160~18~1620458668.64~12000C~8~-63~1~P~192",
    )
    guns = [e for e in events if isinstance(e, GunTime)]
    assert [g.time_text for g in guns][:2] == ["08:00:55.16", "08:05:55.52"]
    assert guns[0].clock == 8 * 3600 + 55.16
    assert guns[0].reader_id == "I11A9D"
    before, after = events[guns[0].seq - 2], events[guns[0].seq]
    assert (before.time_text, after.time_text) == ("08:00:54.97", "08:00:55.21")  # gun sorted between reads
    clocks = [e.clock for e in events]
    assert clocks == sorted(clocks)


@pytest.mark.parametrize("chunk", [1, 997, 1_000_000])
def test_to_timing_events_order_in_chunks(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """Sorted in chunks and merged (so no one sort holds the GIL for long): the same order as
    one sort by (time, gun before read, file order), for reads out of order and tied."""
    data = load_controller_dir(DATA / "FINISH1")
    step = 7919  # a prime: the file's reads shuffled deterministically, then every read doubled
    shuffled = [data.reads[(i * step) % len(data.reads)] for i in range(len(data.reads))]
    reads = [r for r in shuffled for _ in (0, 1)]
    guns = [m for m in data.markers if m.is_gun]
    tied = [replace(reads[5], epoch=marker_epoch(guns[1]), tag="4242")]  # a read at a gun's hundredth
    reads = reads + tied
    monkeypatch.setattr(controller_files, "SORT_CHUNK", chunk)
    events = to_timing_events(reads, data.markers, "FINISH1", "UTC", RACE_DAY)
    keyed = [(round(marker_epoch(m) * 100), 0, i, m.line) for i, m in enumerate(guns)]
    keyed += [(r.centis, 1, i, r.line) for i, r in enumerate(reads)]
    assert [e.line for e in events] == [k[3] for k in sorted(keyed)]
    gun_at = next(i for i, e in enumerate(events) if e.line == guns[1].line)
    assert events[gun_at + 1].line == tied[0].line  # the read of that hundredth comes after it


def test_to_timing_events_tz_moves_reads_and_guns_together() -> None:
    data = load_controller_dir(DATA / "FINISH1")
    utc = to_timing_events(data.reads[:300], data.markers, "F", "UTC", RACE_DAY)
    ny = to_timing_events(data.reads[:300], data.markers, "F", "America/New_York", RACE_DAY)
    assert [round(a.clock - b.clock, 2) for a, b in zip(utc, ny, strict=True)] == [4 * 3600.0] * len(utc)
    assert ny[0].time_text == "03:24:28.64"


def test_to_timing_events_across_midnight_and_days() -> None:
    data = load_controller_dir(DATA / "START1")  # holds a 2021-05-02 session and a 2021-05-08 one
    events = to_timing_events(data.reads, [], "START1", "UTC", RACE_DAY)
    assert len(events) == 7346
    assert events[0].time_text == "-135:36:01.73"  # six days before the reference date
    assert events[-1].time_text == "08:45:13.89"
    late = to_timing_events(data.reads[-1:], [], "S", "UTC", dt.date(2021, 5, 7))
    assert late[0].time_text == "32:45:13.89"
    assert late[0].clock == 32 * 3600 + 45 * 60 + 13.89


def test_a_file_is_decoded_in_pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A million-row file is ~80 MB: decoded into one string it is one C call of 40-60 ms holding
    the GIL (the import's executor thread stalls the event loop), so it is decoded a piece of
    about ``PIECE`` bytes at a time, each cut after a newline, and parsed piece by piece."""
    monkeypatch.setattr(controller_files, "PIECE", 64)
    rows = [f"TO~{i}~{1000 + i}~160~18~{1620458668 + i}.64~12000C~8~-63~1~P~192\r\n" for i in range(1, 41)]
    raw = "".join(rows).replace("~160~", "~1\x0060~", 3)  # NULs (a controller's padding) dropped
    path = tmp_path / "1.csv"
    path.write_bytes(b"\xef\xbb\xbf" + raw.encode("latin-1"))
    pieces = controller_files._read_text(path)
    assert isinstance(pieces, list) and len(pieces) >= 10
    assert "".join(pieces) == "".join(rows)
    assert all(p.endswith("\n") and len(p) <= 64 + max(map(len, rows)) for p in pieces)
    data = load_controller_file(path)
    assert [(r.sequence, r.tag, r.line_no) for r in data.reads] == [
        (i, str(1000 + i), i) for i in range(1, 41)
    ]
    assert not data.errors


def test_merged_chunks_are_freed_as_they_run_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunks a file's reads are sorted in are freed one by one as the merge uses them up, not
    all at once when it ends (a million (key, read) pairs freed in one C call held the GIL ~80 ms)."""
    import gc

    monkeypatch.setattr(controller_files, "SORT_CHUNK", 3)
    data = load_controller_dir(DATA / "FINISH1")
    reads = sorted(data.reads[:12], key=lambda r: r.centis)  # in time order: chunk by chunk
    ordered = controller_files._time_ordered([], reads)
    taken = [next(ordered) for _ in range(7)]  # the first two chunks used up, the third begun
    assert taken == reads[:7]

    def alive(rec: ControllerRead) -> bool:  # a chunk list holding rec's (key, read) pair
        return any(
            isinstance(o, list) and o and isinstance(o[0], tuple) and len(o[0]) == 2 and o[0][1] is rec
            for o in gc.get_objects()
        )

    assert not alive(reads[0]) and not alive(reads[3])
    assert alive(reads[6]) and alive(reads[9])
    assert list(ordered) == reads[7:]
