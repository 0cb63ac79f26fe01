"""RACE RESULT decoder client state machine: handshake, resume, fetch, push, clocks, fuzzing.

Everything is driven with bytes and explicit ``now`` values; no sockets, no mocks.
Every outbound line is checked against ``WHITELIST`` (the commands protocol 2.0
defines that we use), so we never send a decoder something it cannot parse.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from race_control.timing.protocols.events import (
    BadLine,
    ConnectionIdentified,
    GunTime,
    LinkDead,
    RawLine,
    TagRead,
    TimingEvent,
)
from race_control.timing.protocols.raceresult_client import (
    RaceResultClient,
    RaceResultConfig,
    RaceResultConfigError,
    RaceResultError,
    RaceResultStateError,
)
from race_control.timing.protocols.raceresult_passings import FILE_STRIDE, decode_seq, encode_seq

DAY = dt.date(2026, 6, 1)
T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC).timestamp()  # 09:00 UTC on race day
ADDR = "192.0.2.7:3601"
WHITELIST = re.compile(
    r"SETPROTOCOL;2\.0|GETCONFIG;GENERAL;BOXNAME|GETSTATUS|GETTIME|PASSINGS|PING|STARTOPERATION"
    r"|SETTIME;\d{4}-\d{2}-\d{2};\d{2}:\d{2}:\d{2}\.\d{3}|SETPUSHPASSINGS;1;0|[1-9]\d*:[1-9]\d*"
)
HANDSHAKE = ["SETPROTOCOL;2.0", "GETCONFIG;GENERAL;BOXNAME", "GETSTATUS", "GETTIME", "PASSINGS"]


def record(
    no: int, bib: str = "", time: str = "", *, file: int = 3, box: str = "FINISH", box_id: str = "D-5051"
) -> str:
    """A 20-field (protocol >= 1.6) passing record."""
    bib = bib or str(100 + no)
    time = time or f"09:{no // 60:02d}:{no % 60:02d}.{no % 1000:03d}"
    fields = [str(no), bib, "0000-00-00", time, "6692", "12", "-68", "09ca52", "0", "", "1", "0"]
    fields += ["", "", "", "", box, str(file), "", box_id]
    return ";".join(fields)


def make(now: float = T0, **kw: object) -> RaceResultClient:
    kw.setdefault("timezone", "UTC")
    kw.setdefault("reference_date", DAY)
    return RaceResultClient(RaceResultConfig(**kw), address=ADDR, now=now)  # type: ignore[arg-type]


def out(client: RaceResultClient) -> list[str]:
    """Drain outbound bytes, check CRLF framing and the whitelist, return the lines."""
    data = client.data_to_send()
    if not data:
        return []
    assert data.endswith(b"\r\n")
    lines = data.decode("latin-1").split("\r\n")[:-1]
    for line in lines:
        assert WHITELIST.fullmatch(line), f"we must not send {line!r}"
    return lines


def feed(client: RaceResultClient, *lines: str, now: float = T0 + 1) -> list[TimingEvent]:
    return client.receive_data("".join(line + "\r\n" for line in lines).encode("latin-1"), now)


def reads(events: list[TimingEvent]) -> list[TagRead | GunTime]:
    return [e for e in events if isinstance(e, TagRead | GunTime)]


def identified(
    count: int = 0, file: int = 3, cursors: dict[str, int] | None = None, **kw: object
) -> RaceResultClient:
    """A client through the handshake (BoxName FINISH, BoxId D-5051), streaming from ``cursors``."""
    client = make(**kw)
    assert out(client) == HANDSHAKE
    events = feed(
        client,
        "SETPROTOCOL;2.0",
        "GETCONFIG;GENERAL;BOXNAME;FINISH;D-5051",
        "GETSTATUS;0000-00-00;00:10:00.000;1;1;1;3;0",
        "GETTIME;0000-00-00;09:00:01.000",
        f"PASSINGS;{count};{file}",
    )
    assert ConnectionIdentified("raceresult:D-5051", from_client=True) in events
    client.begin_streaming(cursors or {})
    return client


# ---------------------------------------------------------------------------------------- handshake
def test_handshake_sends_only_what_is_configured() -> None:
    assert out(make()) == HANDSHAKE
    client = make(set_time=True, start_operation=True, now=T0 + 0.25)
    assert out(client) == [
        "SETPROTOCOL;2.0",
        "GETCONFIG;GENERAL;BOXNAME",
        "GETSTATUS",
        "SETTIME;2026-06-01;09:00:00.250",
        "STARTOPERATION",
        "GETTIME",
        "PASSINGS",
    ]


def test_settime_uses_the_configured_zone() -> None:
    client = make(set_time=True, timezone="America/New_York")
    assert "SETTIME;2026-06-01;05:00:00.000" in out(client)


@pytest.mark.parametrize(
    ("config_reply", "location", "expected_id", "expected_loc"),
    [
        ("GETCONFIG;GENERAL;BOXNAME;FINISH;D-5051", None, "raceresult:D-5051", "FINISH"),
        ("GETCONFIG;GENERAL;BOXNAME;FINISH;D-5051", "finish", "raceresult:D-5051", "finish"),
        ("GETCONFIG;GENERAL;BOXNAME;FINISH", None, f"raceresult:{ADDR}", "FINISH"),
        ("GETCONFIG;ERROR", None, f"raceresult:{ADDR}", "decoder"),
        ("GETCONFIG;GENERAL;BOXNAME;;", "start", f"raceresult:{ADDR}", "start"),
    ],
)
def test_identity_and_location(
    config_reply: str, location: str | None, expected_id: str, expected_loc: str
) -> None:
    client = make(location=location)
    out(client)
    events = feed(client, config_reply)
    assert not any(isinstance(e, ConnectionIdentified) for e in events)
    assert client.phase == "handshake"
    events = feed(client, "PASSINGS;0;1")
    ident = [e for e in events if isinstance(e, ConnectionIdentified)]
    assert [e.connection_id for e in ident] == [expected_id]
    assert client.connection_id == expected_id and client.location == expected_loc
    assert client.phase == "identified"


def test_status_and_clock_offset() -> None:
    client = make()
    out(client)
    feed(client, "GETSTATUS;0000-00-00;00:10:00.000;1;1;0;3;0", "GETTIME;0000-00-00;09:00:03.500", now=T0 + 1)
    # the decoder read its clock at ~T0+0.5 (half the round trip): it is 3.0 s ahead of us
    assert client.clock_offset == 3.0
    status = client.status()
    assert status["operation_mode"] is False and status["clock_offset"] == 3.0
    feed(client, "STARTOPERATION;OK;0000-00-00;00:00:00.000")
    assert client.status()["operation_mode"] is True
    # the offset follows the stream's zone: same decoder wall time, PC now 4 h later in New York
    client.set_clock("America/New_York", DAY)
    assert client.clock_offset == 3.0 + 4 * 3600


def test_begin_streaming_before_identification_is_a_caller_error() -> None:
    client = make()
    with pytest.raises(RaceResultStateError):
        client.begin_streaming({})
    with pytest.raises(RaceResultConfigError):
        RaceResultConfig(fetch_batch=0).validate()
    with pytest.raises(RaceResultConfigError):
        RaceResultConfig(location="a;b").validate()
    with pytest.raises(RaceResultConfigError):
        RaceResultConfig(timezone="Mars/Olympus").validate()
    ident = make()
    feed(ident, "PASSINGS;0;1")
    with pytest.raises(RaceResultError):
        ident.begin_streaming({"decoder": -1})


# ---------------------------------------------------------------------------------------- fetch + push
def test_fetch_in_bounded_batches_then_push() -> None:
    client = identified(count=5, fetch_batch=2)
    assert out(client) == ["1:2"]
    events = feed(client, record(1), record(2), "")
    assert [(r.seq, r.tag) for r in reads(events)] == [(encode_seq(3, 1), "101"), (encode_seq(3, 2), "102")]
    assert [e.line for e in events if isinstance(e, RawLine)] == [record(1), record(2)]  # blank: no RawLine
    assert out(client) == ["3:2"]
    feed(client, record(3), record(4), "")
    assert out(client) == ["5:1"]
    assert not client.live
    events = feed(client, record(5), "")
    assert len(reads(events)) == 1
    assert out(client) == ["SETPUSHPASSINGS;1;0"]
    assert client.live
    events = feed(client, "#P;" + record(6))
    (read,) = reads(events)
    assert isinstance(read, TagRead)
    assert (read.location, decode_seq(read.seq), read.tag, read.reader_id, read.gator) == (
        "FINISH",
        (3, 6),
        "106",
        "D-5051",
        1,
    )
    assert read.time_text == "09:00:06.006" and read.clock == pytest.approx(9 * 3600 + 6.006)
    assert client.status()["last_passing"] == 6


def test_nothing_stored_goes_straight_to_push() -> None:
    client = identified(count=0)
    assert out(client) == ["SETPUSHPASSINGS;1;0"]


def test_resume_after_the_stored_cursor_in_the_same_file() -> None:
    client = identified(count=12, cursors={"FINISH": encode_seq(3, 9), "other": 5})
    assert out(client) == ["10:3"]


def test_a_new_file_is_fetched_from_one_and_gets_new_seqs() -> None:
    client = identified(count=2, file=4, cursors={"FINISH": encode_seq(3, 900)})
    assert out(client) == ["1:2"]
    events = feed(client, record(1, file=4), record(2, file=4), "")
    assert [decode_seq(r.seq) for r in reads(events)] == [(4, 1), (4, 2)]


def test_pushed_gap_is_refetched_and_nothing_is_emitted_out_of_order() -> None:
    client = identified(count=2)
    out(client)
    feed(client, record(1), record(2), "")
    assert out(client) == ["SETPUSHPASSINGS;1;0"]
    events = feed(client, "#P;" + record(5))
    assert reads(events) == []
    assert out(client) == ["3:3"]
    events = feed(client, "#P;" + record(3))  # a push of the first missing one is fine
    assert [decode_seq(r.seq)[1] for r in reads(events)] == [3]
    events = feed(client, record(3), record(4), record(5), "")
    assert [decode_seq(r.seq)[1] for r in reads(events)] == [4, 5]
    assert out(client) == []
    events = feed(client, "#P;" + record(5), "#P;" + record(6))
    assert [decode_seq(r.seq)[1] for r in reads(events)] == [6]


def test_file_change_while_live_restarts_numbering() -> None:
    client = identified(count=1)
    out(client)
    feed(client, record(1), "")
    out(client)
    events = feed(client, "#P;" + record(1, file=4), "#P;" + record(2, file=4))
    assert [decode_seq(r.seq) for r in reads(events)] == [(4, 1), (4, 2)]
    events = feed(client, "PASSINGS;2;4")
    assert events == [RawLine("PASSINGS;2;4")] and out(client) == []


def test_passings_poll_finds_missed_pushes() -> None:
    client = identified(count=0)
    out(client)
    feed(client, "PASSINGS;2;3")
    assert out(client) == ["1:2"]


def test_trigger_marker_is_a_gun_time() -> None:
    client = identified(count=1)
    out(client)
    (gun,) = reads(feed(client, record(1, bib="99999123", time="08:59:59.990"), ""))
    assert isinstance(gun, GunTime)
    assert gun.location == "FINISH" and gun.clock == pytest.approx(32399.99)


def test_short_record_and_dates() -> None:
    client = identified(count=4, cursors={})
    out(client)
    events = feed(
        client,
        "1;33;0000-00-00;00:00:02.773;6692;12;-68;09ca52",
        "2;34;0000-00-01;00:00:01.5;6692;12;-68",
        "3;35;2026-06-01;09:30:00.000;6692;12;-68",
        "4;36;2026-05-31;23:59:59.000;6692;12;-68",
        "",
    )
    got = reads(events)
    assert [r.clock for r in got] == pytest.approx([2.773, 86401.5, 34200.0, -1.0])
    assert [r.tag for r in got] == ["33", "34", "35", "36"]
    assert [r.time_text for r in got] == [
        "00:00:02.773",
        "0000-00-01 00:00:01.5",
        "2026-06-01 09:30:00.000",
        "2026-05-31 23:59:59.000",
    ]
    assert all(decode_seq(r.seq)[0] == 3 for r in got)  # file from PASSINGS when the record has none
    assert got[0].reader_id == ""


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("1;33;0000-00-00", "expected at least 4"),
        ("0;33;0000-00-00;00:00:01.000", "PassingNo"),
        (f"{FILE_STRIDE};33;0000-00-00;00:00:01.000", "PassingNo"),
        ("1; ;0000-00-00;00:00:01.000", "empty Bib"),
        ("1;33;2026-13-01;00:00:01.000", "bad date/time"),
        ("1;33;0000-00-00;25:00:01.000", "bad date/time"),
        ("1;33;0000-00-00;1:2:3", "bad date/time"),
        (record(1, file=-1), "FileNumber"),
        ("#P;1;33", "expected at least 4"),
        ("#W;1;2;3", "unsupported pushed message"),
        ("HELLO", "unknown line"),
        ("PASSINGS;x", "PASSINGS reply"),
        ("GETTIME;junk", "GETTIME reply"),
        ("STARTOPERATION;ERROR", "refused STARTOPERATION"),
    ],
)
def test_bad_lines_say_why(line: str, reason: str) -> None:
    client = identified(count=0)
    out(client)
    events = feed(client, line)
    assert events[0] == RawLine(line)
    bad = [e for e in events if isinstance(e, BadLine)]
    assert len(bad) == 1 and reason in bad[0].reason, bad
    assert client.bad_lines == 1


def test_quiet_replies_and_overlong_lines() -> None:
    client = identified(count=0)
    out(client)
    events = feed(client, "SETPUSHPASSINGS;OK", "PING;OK", "ONLY 3", "SETTIME;OK", "GETPROTOCOL;2.0;1.0;2.0")
    assert all(isinstance(e, RawLine) for e in events)
    events = client.receive_data(b"9" * 5000 + b"\r\n", T0 + 2)
    assert [type(e) for e in events] == [BadLine] and "too long" in events[0].reason  # type: ignore[union-attr]


def test_count_falling_without_a_new_file_is_reported() -> None:
    client = identified(count=3)
    out(client)
    feed(client, record(1), record(2), record(3), "")
    (bad,) = [e for e in feed(client, "PASSINGS;1;3") if isinstance(e, BadLine)]
    assert "fell to 1" in bad.reason


# ---------------------------------------------------------------------------------------- time
def test_heartbeat_dead_link_and_timeouts() -> None:
    client = make(ping_interval=10, dead_after=30, handshake_timeout=20)
    out(client)
    assert client.tick(T0 + 5) == [] and out(client) == []
    client.tick(T0 + 10)
    assert out(client) == ["PING"]  # no PASSINGS poll before streaming
    (dead,) = client.tick(T0 + 20)
    assert isinstance(dead, LinkDead) and "PASSINGS" in dead.reason and client.closed
    assert feed(client, "PASSINGS;1;1") == [] and client.tick(T0 + 99) == []

    client = identified(count=3, fetch_batch=10, fetch_timeout=5, ping_interval=10, dead_after=30)
    assert out(client) == ["1:3"]
    feed(client, record(1), now=T0 + 2)  # the reply stops short, no empty line
    client.tick(T0 + 5.5)  # the fetch went out at T0 + 1
    assert out(client) == []
    client.tick(T0 + 6)
    assert out(client) == ["2:2"] and client.fetch_timeouts == 1
    client.tick(T0 + 10)
    assert out(client) == ["PING", "PASSINGS"]
    (dead,) = client.tick(T0 + 32)
    assert isinstance(dead, LinkDead) and "no data" in dead.reason


# ---------------------------------------------------------------------------------------- captures
# What a decoder says to us, in two parts: its handshake replies, then (after we asked
# for 1:3) the fetch reply and the live pushes.
HELLO = (
    "SETPROTOCOL;2.0\r\n"
    "GETCONFIG;GENERAL;BOXNAME;FINISH;D-5051\r\n"
    "GETSTATUS;0000-00-00;00:10:00.000;1;1;1;3;0\r\n"
    "GETTIME;0000-00-00;09:00:01.000\r\n"
    "PASSINGS;3;3\r\n"
).encode("latin-1")
STREAM = (
    "".join(record(n) + "\r\n" for n in (1, 2, 3))
    + "\r\n"
    + "SETPUSHPASSINGS;1;0\r\n"
    + "#P;"
    + record(4)
    + "\r\n"
    + "#P;"
    + record(5, bib="99999")
    + "\r\n"
).encode("latin-1")
CAPTURE = HELLO + STREAM


def run_capture(chunks: list[bytes]) -> tuple[list[TimingEvent], list[str]]:
    client = make()
    sent = out(client)
    events: list[TimingEvent] = []
    for chunk in chunks:
        for event in client.receive_data(chunk, T0 + 1):
            events.append(event)
            if isinstance(event, ConnectionIdentified):
                client.begin_streaming({})
        sent += out(client)
    return events, sent


def test_capture_whole_byte_by_byte_and_twice() -> None:
    whole, sent = run_capture([HELLO, STREAM])
    assert sent == [*HANDSHAKE, "1:3", "SETPUSHPASSINGS;1;0"]
    assert [(type(r).__name__, decode_seq(r.seq)[1]) for r in reads(whole)] == [
        ("TagRead", 1),
        ("TagRead", 2),
        ("TagRead", 3),
        ("TagRead", 4),
        ("GunTime", 5),
    ]
    bytewise, sent2 = run_capture([CAPTURE[i : i + 1] for i in range(len(CAPTURE))])
    assert bytewise == whole and sent2 == sent
    crlf_split = CAPTURE.replace(b"\r\n\r\n", b"\r\n\r")  # the blank line's \n arrives alone later
    split, _ = run_capture([HELLO, crlf_split[len(HELLO) :], b"\n"])
    assert reads(split) == reads(whole)
    twice, _ = run_capture([HELLO, STREAM, HELLO, STREAM])
    assert reads(twice) == reads(whole)  # the replay is all resends: nothing emitted twice
    assert sum(isinstance(e, RawLine) for e in twice) == 2 * sum(isinstance(e, RawLine) for e in whole)


def test_lf_only_line_endings() -> None:
    events, _ = run_capture([HELLO.replace(b"\r\n", b"\n"), STREAM.replace(b"\r\n", b"\n")])
    assert len(reads(events)) == 5


# ---------------------------------------------------------------------------------------- fuzzing
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000), st.lists(st.integers(1, 64), max_size=30), st.booleans())
def test_arbitrary_bytes_never_raise(data: bytes, cuts: list[int], configured: bool) -> None:
    client = make(set_time=configured, start_operation=configured, fetch_batch=7)
    out(client)
    pos, now = 0, T0
    for cut in [*cuts, len(data)]:
        now += 3
        for event in client.receive_data(data[pos : pos + cut], now):
            assert isinstance(event, RawLine | BadLine | TagRead | GunTime | ConnectionIdentified | LinkDead)
            if isinstance(event, ConnectionIdentified):
                client.begin_streaming({client.location or "": encode_seq(1, 5)})
        client.tick(now)
        out(client)
        pos += cut


_LINE = st.one_of(
    st.builds(record, st.integers(1, 40), file=st.integers(0, 5)),
    st.builds(lambda n, f: "#P;" + record(n, file=f), st.integers(1, 40), st.integers(0, 5)),
    st.builds("PASSINGS;{};{}".format, st.integers(0, 40), st.integers(0, 5)),
    st.just(""),
    st.just("GETCONFIG;GENERAL;BOXNAME;FINISH;D-1"),
    st.text(alphabet=";:#P0123456789-. ", max_size=40),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINE, max_size=60))
def test_plausible_decoder_talk_emits_each_file_in_order(lines: list[str]) -> None:
    """Within one file, reads come out strictly in PassingNo order: what is stored stays contiguous."""
    client = make(fetch_batch=5)
    out(client)
    last: tuple[int, int] | None = None
    for line in lines:
        for event in feed(client, line):
            if isinstance(event, ConnectionIdentified):
                client.begin_streaming({})
            if isinstance(event, TagRead | GunTime):
                file, no = decode_seq(event.seq)
                if last is not None and last[0] == file:
                    assert no > last[1]
                last = (file, no)
        client.tick(T0 + 1)
        out(client)
