"""CTP01 server state machine: handshake, auth, push/pull streaming, resume, pings, fuzzing.

Everything is driven with bytes and explicit ``now`` values; no sockets, no mocks.
Every outbound line is checked against ``WHITELIST`` (the lines CTP01 defines),
because Tachyon drops the link on anything else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import random
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from race_control import __version__
from race_control.timing.protocols.ctp01_auth import compute_auth_string
from race_control.timing.protocols.ctp01_server import Ctp01Server
from race_control.timing.protocols.ctp01_settings import (
    DEFAULT_PORT,
    Ctp01Config,
    Ctp01ConfigError,
    Ctp01Error,
    Ctp01StateError,
)
from race_control.timing.protocols.events import (
    Authenticated,
    AuthenticationFailed,
    BadLine,
    ConnectionIdentified,
    EventInfo,
    Greeting,
    GunTime,
    LinkDead,
    Locations,
    NewLocation,
    PingAnswered,
    RawLine,
    TagRead,
)

DATA = Path(__file__).resolve().parents[1] / "data"
T0 = 1_224_165_000.0  # 2008-10-16 (UTC), the spec's example day
DAY = dt.date(2008, 10, 16)
SEED = "c0ffee1234"
GREETING = "SimpleClient~1.2.3~CTP01"

_N = r"[^~\r\n]+"
WHITELIST = re.compile(
    rf"{_N}~{_N}~\d+"  # server response line
    r"|location=(single|multi)|guntimes=(true|false)|newlocations=(true|false)"
    r"|connection-id=(true|false)|stream-mode=(push|pull)|time-format=(normal|iso|unix|msecs)"
    r"|tagevent-format=CT01_33|pushmode-ack=(true|false)"
    r"|authentication=(none|plaintext|hmac-sha1|hmac-md5|seed-sha1|seed-md5)"
    rf"|authentication-seed={_N}"
    r"|ack~authorize|err~authorize(~[^\r\n]*)?"
    r"|geteventinfo|getlocations|getconnectionid|ping|ack~ping"
    rf"|start(~{_N}(~\d+)?)?|stop(~{_N})?|getdata~\d+(~{_N}(~\d+)?)?"
)


def lines_out(server: Ctp01Server) -> list[str]:
    """Drain outbound bytes, check CRLF framing and the whitelist, return the lines."""
    data = server.data_to_send()
    if not data:
        return []
    assert data.endswith(b"\r\n")
    lines = data.decode("latin-1").split("\r\n")[:-1]
    for line in lines:
        assert WHITELIST.fullmatch(line), f"CTP01 does not define {line!r}"
    return lines


def wire(*lines: str) -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode("latin-1")


def make(now: float = T0, seed: str | None = SEED, **kw: object) -> Ctp01Server:
    kw.setdefault("reference_date", DAY)
    return Ctp01Server(Ctp01Config(**kw), seed=seed, now=now)  # type: ignore[arg-type]


def ready(server: Ctp01Server, now: float = T0, locations: Iterable[str] = ("start", "finish")) -> None:
    """Greet, answer the three post-handshake commands, drain output."""
    server.receive_data(wire(GREETING), now)
    server.receive_data(
        wire("ack~geteventinfo~LA08~12~Los Angeles Marathon 2008", "ack~getlocations~" + "~".join(locations)),
        now,
    )
    server.receive_data(wire("ack~getconnectionid~cid-1"), now)
    assert server.connection_id == "cid-1"
    lines_out(server)


def derived(events: list) -> list:
    return [e for e in events if not isinstance(e, RawLine)]


# ---------------------------------------------------------------- handshake


def test_default_handshake_is_the_exact_spec_sequence() -> None:
    s = make()
    events = s.receive_data(wire(GREETING), T0)
    assert events == [RawLine(GREETING), Greeting("SimpleClient", "1.2.3", "CTP01")]
    assert lines_out(s) == [
        f"RaceControl~{__version__}~9",
        "location=multi",
        "guntimes=true",
        "newlocations=true",
        "connection-id=true",
        "stream-mode=push",
        "time-format=normal",
        "tagevent-format=CT01_33",
        "pushmode-ack=false",
        "authentication=none",
        "geteventinfo",
        "getlocations",
        "getconnectionid",
    ]
    assert s.phase == "ready" and s.greeting == Greeting("SimpleClient", "1.2.3", "CTP01")
    assert DEFAULT_PORT == 61611


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"stream_mode": "pull"}, {"stream-mode=pull"}),
        ({"location": "single", "guntimes": False}, {"location=single", "guntimes=false"}),
        ({"newlocations": False, "connection_id": False}, {"newlocations=false", "connection-id=false"}),
        ({"time_format": "iso", "pushmode_ack": True}, {"time-format=iso", "pushmode-ack=true"}),
        ({"authentication": "plaintext"}, {"authentication=plaintext"}),
        ({"authentication": "hmac-sha1"}, {"authentication=hmac-sha1", f"authentication-seed={SEED}"}),
        ({"authentication": "seed-md5"}, {"authentication=seed-md5", f"authentication-seed={SEED}"}),
        ({"server_name": "Race Director", "server_version": "Version 2008 rev 3"}, set()),
    ],
)
def test_settings_lines_follow_the_config(kw: dict, expected: set[str]) -> None:
    s = make(**kw)
    s.receive_data(wire(GREETING), T0)
    out = lines_out(s)
    name, version, count = out[0].split("~")
    assert (name, version) == (kw.get("server_name", "RaceControl"), kw.get("server_version", __version__))
    settings_lines = out[1 : 1 + int(count)]
    assert all("=" in line for line in settings_lines)
    assert expected <= set(settings_lines)
    keys = [line.split("=")[0] for line in settings_lines]
    assert len(keys) == len(set(keys)) and "tagevent-format" in keys and "authentication" in keys
    assert ("authentication-seed" in keys) == (kw.get("authentication", "none") not in ("none", "plaintext"))
    if kw.get("authentication", "none") == "none":
        assert out[1 + int(count) :] == ["geteventinfo", "getlocations", "getconnectionid"]
    else:
        assert out[1 + int(count) :] == []  # nothing until authorize


@pytest.mark.parametrize(
    "greeting", ["TripleC~0.1.0~CTP01", "SimpleClient~1.2.3~CTP01", " Tachyon ~3.6~ctp01 "]
)
def test_valid_greetings(greeting: str) -> None:
    s = make()
    events = derived(s.receive_data(wire(greeting), T0))
    assert isinstance(events[0], Greeting) and events[0].protocol.upper() == "CTP01"


@pytest.mark.parametrize(
    "line",
    [
        "OK",
        "CLIENT~SimpleClient~1.0.0~philly2~0.2.2",  # the CCS "philly2" greeting
        "a~b~c",
        "SimpleClient~~CTP01",
        "CT01_33~1~start~9478~14:02:15.31~0~0F2A38~1",
        "ping",
        "ack~ping",
    ],
)
def test_anything_before_the_greeting_is_a_bad_line_and_gets_no_reply(line: str) -> None:
    s = make()
    assert derived(s.receive_data(wire(line), T0)) == [
        BadLine(line, "expected greeting <program>~<version>~CTP01")
    ]
    assert lines_out(s) == [] and s.phase == "greeting" and s.bad_lines == 1
    assert isinstance(derived(s.receive_data(wire(GREETING), T0))[0], Greeting)


# ---------------------------------------------------------------- transcript


def transcript() -> list[str]:
    return (DATA / "ctp01" / "simpleclient-push.txt").read_text().splitlines()


def drive(chunks: Iterable[bytes], cursors: Mapping[str, int]) -> tuple[list, list[str]]:
    """Feed chunks at one-second steps; begin streaming as a transport would."""
    s = make()
    events: list = []
    out: list[str] = []
    for i, chunk in enumerate(chunks):
        new = s.receive_data(chunk, T0 + i * 0.001)
        events += new
        if any(isinstance(e, ConnectionIdentified) for e in new):
            s.begin_streaming(cursors)
        out += lines_out(s)
    return events, out


def chunked(data: bytes, rng: random.Random) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 9)
        out.append(data[i : i + n])
        i += n
    return out


def test_real_transcript_whole_bytewise_chunked_and_twice() -> None:
    data = wire(*transcript())
    whole = drive([data], {"finish": 4530})
    bytewise = drive([data[i : i + 1] for i in range(len(data))], {"finish": 4530})
    rng = random.Random(7)
    randomly = drive(chunked(data, rng), {"finish": 4530})
    again = drive([data], {"finish": 4530})
    assert whole[0] == bytewise[0] == randomly[0] == again[0]
    # fed whole, begin_streaming runs after the reads were seen, so it resumes past them
    assert "start~start~4" in whole[1] and "start~finish~4530" in whole[1]
    assert bytewise[1] == randomly[1]

    events = whole[0]
    assert [e.line for e in events if isinstance(e, RawLine)] == transcript()
    assert derived(events) == [
        Greeting("SimpleClient", "1.2.3", "CTP01"),
        EventInfo("LA08", "12", "Los Angeles Marathon 2008"),
        Locations(("start", "10k", "half", "30k", "finish")),
        ConnectionIdentified("b617318655057264e28bc0b6fb378c8ef146be00"),
        TagRead("start", 1, "9478", "14:02:15.31", 50535.31, 0, "0F2A38", 1, transcript()[4]),
        GunTime("start", 4, "14:02:15.31", 50535.31, "DF239A", transcript()[5]),
        NewLocation("30k", 2038, transcript()[6]),
        TagRead("finish", 2, "12", "08:38:58.97", 31138.97, 0, "0FA22E", 4, transcript()[8]),
        TagRead("finish", 3, "2948", "08:39:01.62", 31141.62, 0, "04BE82", 2, transcript()[9]),
        TagRead("finish", 5, "009573", "102:12:32.37", 367952.37, 3, "104484", 8, transcript()[10]),
    ]
    starts = [line for line in bytewise[1] if line.startswith("start")]
    assert starts == ["start~start", "start~10k", "start~half", "start~30k", "start~finish~4530"]
    assert "ack~ping" in bytewise[1]


def test_every_raw_line_comes_before_what_is_derived_from_it() -> None:
    s = make()
    events = s.receive_data(wire(*transcript()), T0)
    for i, event in enumerate(events):
        if not isinstance(event, RawLine):
            assert any(isinstance(e, RawLine) for e in events[:i])
    assert isinstance(events[0], RawLine)


# ---------------------------------------------------------------- authentication


def expected_auth(method: str, password: str, seed: str) -> str:
    """Independent restatement of docs/protocols/ctp01.md#authentication."""
    if method == "plaintext":
        return password
    algo = method.split("-")[1]
    if method.startswith("hmac"):
        return hmac.new(password.encode(), seed.encode(), getattr(hashlib, algo)).hexdigest()
    return getattr(hashlib, algo)((seed + password).encode()).hexdigest()


METHODS = ["plaintext", "hmac-sha1", "hmac-md5", "seed-sha1", "seed-md5"]
CREDS = {"TimersRus": "s3cret", "other": "pw2"}


@pytest.mark.parametrize("method", METHODS)
def test_auth_accepts_the_right_string(method: str) -> None:
    s = make(authentication=method, credentials=CREDS)
    s.receive_data(wire(GREETING), T0)
    lines_out(s)
    assert s.phase == "auth"
    string = expected_auth(method, "s3cret", SEED)
    assert compute_auth_string(method, "s3cret", SEED) == string
    events = derived(s.receive_data(wire(f"authorize~TimersRus~{string}"), T0 + 1))
    assert events == [Authenticated("TimersRus")]
    assert lines_out(s) == ["ack~authorize", "geteventinfo", "getlocations", "getconnectionid"]
    assert s.phase == "ready" and s.user == "TimersRus"


@pytest.mark.parametrize("method", METHODS[1:])
def test_hex_digests_are_case_insensitive(method: str) -> None:
    s = make(authentication=method, credentials=CREDS)
    s.receive_data(wire(GREETING), T0)
    string = expected_auth(method, "pw2", SEED).upper()
    assert derived(s.receive_data(wire(f"authorize~other~{string}"), T0)) == [Authenticated("other")]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("user", "password", "reason"),
    [
        ("TimersRus", "wrong", "wrong"),
        ("nobody", "s3cret", "unknown user"),
        ("other", "s3cret", "wrong"),  # another user's password
    ],
)
def test_auth_rejects_and_kills_the_link(method: str, user: str, password: str, reason: str) -> None:
    s = make(authentication=method, credentials=CREDS)
    s.receive_data(wire(GREETING), T0)
    lines_out(s)
    string = expected_auth(method, password, SEED)
    events = derived(s.receive_data(wire(f"authorize~{user}~{string}", "ack~getconnectionid~x"), T0))
    assert len(events) == 2
    assert isinstance(events[0], AuthenticationFailed) and events[0].user == user
    assert reason in events[0].reason
    assert isinstance(events[1], LinkDead)
    assert lines_out(s) == ["err~authorize~authentication failed"]
    assert s.closed and s.user is None and s.connection_id is None
    assert s.receive_data(wire("ping"), T0) == [] and s.tick(T0 + 1000) == []


def test_hmac_with_a_different_seed_is_rejected() -> None:
    s = make(authentication="hmac-sha1", credentials=CREDS)
    s.receive_data(wire(GREETING), T0)
    string = expected_auth("hmac-sha1", "s3cret", "another-seed")
    assert isinstance(
        derived(s.receive_data(wire(f"authorize~TimersRus~{string}"), T0))[0], AuthenticationFailed
    )


@pytest.mark.parametrize("line", ["authorize~TimersRus", "authorize", "authorize~TimersRus~s3cret~extra"])
def test_malformed_authorize_fails(line: str) -> None:
    s = make(authentication="plaintext", credentials=CREDS)
    s.receive_data(wire(GREETING), T0)
    events = derived(s.receive_data(wire(line), T0))
    assert isinstance(events[0], AuthenticationFailed) and "malformed" in events[0].reason
    assert s.closed


def test_nothing_is_accepted_before_authorize_except_ping() -> None:
    s = make(authentication="plaintext", credentials=CREDS)
    s.receive_data(wire(GREETING), T0)
    lines_out(s)
    events = derived(s.receive_data(wire("CT01_33~1~start~9478~14:02:15.31~0~0F2A38~1", "ping"), T0))
    assert [type(e) for e in events] == [BadLine]
    assert "not authenticated" in events[0].reason
    assert lines_out(s) == ["ack~ping"]
    assert s.tick(T0 + 5) == [] and lines_out(s) == []  # we do not ping before auth
    with pytest.raises(Ctp01StateError):
        s.begin_streaming({})


def test_seed_is_random_when_not_given() -> None:
    a = make(seed=None, authentication="seed-sha1")
    b = make(seed=None, authentication="seed-sha1")
    assert a.seed and b.seed and a.seed != b.seed
    assert make(seed=None).seed is None


# ---------------------------------------------------------------- replies and data lines


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "ack~geteventinfo~LA08~12~Los Angeles Marathon 2008",
            [EventInfo("LA08", "12", "Los Angeles Marathon 2008")],
        ),
        ("ack~geteventinfo~LA08~12~Marathon ~ 10k", [EventInfo("LA08", "12", "Marathon ~ 10k")]),
        ("ack~geteventinfo~LA08", [EventInfo("LA08", "", "")]),
        (
            "ack~getlocations~start~10k~half~30k~finish",
            [Locations(("start", "10k", "half", "30k", "finish"))],
        ),
        ("ack~getlocations", [Locations(())]),
        ("ack~getlocations~a~~a~ ~b", [Locations(("a", "b"))]),
        ("ack~start~finish", []),
        ("ack~start", []),
        ("ack~stop", []),
        ("ack~ping", []),  # unsolicited: nothing to measure
        ("ping", []),
    ],
)
def test_replies(line: str, expected: list) -> None:
    s = make()
    s.receive_data(wire(GREETING), T0)
    assert derived(s.receive_data(wire(line), T0)) == expected
    assert s.bad_lines == 0


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("err~start~no such location", "client reported an error for 'start': no such location"),
        ("err~stop~error message details", "error for 'stop'"),
        ("err~~unknown command", "error for 'a command': unknown command"),
        ("err~geteventinfo", "error for 'geteventinfo'"),
        ("ack~frobnicate", "unexpected reply ack~frobnicate"),
        ("ack~getdata~x", "ack~getdata needs one item count"),
        ("ack~getdata", "ack~getdata needs one item count"),
        ("hello world", "unknown line"),
        ("OK", "unknown line"),
        ("authorize~a~b", "authorize not expected"),
        ("CT01_33~1~start~9478~14:02:15.31~0~0F2A38", "has 7 fields, expected 8"),
        ("CT01_33~1~start~9478~14:02:15.31~0~0F2A38~1~x", "has 9 fields"),
        ("CT01_33~x~start~9478~14:02:15.31~0~0F2A38~1", "sequence number 'x'"),
        ("CT01_33~-1~start~9478~14:02:15.31~0~0F2A38~1", "sequence number"),
        ("CT01_33~1~~9478~14:02:15.31~0~0F2A38~1", "empty location"),
        ("CT01_33~1~start~~14:02:15.31~0~0F2A38~1", "empty tag"),
        ("CT01_33~1~start~9478~14:02:15.31~a~0F2A38~1", "lap 'a'"),
        ("CT01_33~1~start~9478~14:02:15.31~0~0F2A38~z", "gator 'z'"),
        ("CT01_33~1~start~9478~25:61:00~0~0F2A38~1", "bad time"),
        ("CT01_33~1~start~9478~~0~0F2A38~1", "bad time"),
        ("CT01_33~1~start~guntime~soon~0~DF239A~0", "bad time"),
        ("CT01_13,1,start,12,06:08:32.02,1,0FA22E,4", "unknown line"),  # comma format: we asked for CT01_33
    ],
)
def test_bad_lines_have_a_reason_and_are_counted(line: str, reason: str) -> None:
    s = make()
    s.receive_data(wire(GREETING), T0)
    events = derived(s.receive_data(wire(line), T0))
    assert len(events) == 1 and isinstance(events[0], BadLine), events
    # a bad line is logged: an authorize line is reported without its secret
    shown = "authorize~a~***" if line.startswith("authorize~") else line
    assert events[0].line == shown and reason in events[0].reason
    assert s.bad_lines == 1 and not s.closed
    assert lines_out(s)[-1] == "getconnectionid"  # nothing sent back for a bad line


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("CT01_33~1~start~9478~14:02:15.31~0~0F2A38~1", ("9478", 50535.31, 0, 1)),
        ("CT01_33~7~start~  12 ~14:02:15.31~2~0F2A38~1", ("  12 ", 50535.31, 2, 1)),  # tag kept verbatim
        ("CT01_33~7~start~009573~14:02:15.31~~0F2A38~", ("009573", 50535.31, 0, 0)),  # empty lap/gator
        ("CT01_33~7~start~9478~43455310~0~0F2A38~1", ("9478", 43455.31, 0, 1)),  # msecs despite normal
        ("CT01_33~7~start~9478~2008-10-16T14:02:15.31~0~0F2A38~1", ("9478", 50535.31, 0, 1)),  # iso
        ("CT01_33~7~start~9478~1224165735.31~0~0F2A38~1", ("9478", 50535.31, 0, 1)),  # unix
        ("ct01_33~7~start~9478~14:02:15.31~0~0F2A38~1", ("9478", 50535.31, 0, 1)),
    ],
)
def test_tag_reads(line: str, expected: tuple) -> None:
    """Time format mismatches are tolerated: clients may ignore our time-format request."""
    s = make()
    s.receive_data(wire(GREETING), T0)
    (read,) = derived(s.receive_data(wire(line), T0))
    assert isinstance(read, TagRead) and read.line == line and read.location == "start"
    assert (read.tag, read.lap, read.gator) == (expected[0], expected[2], expected[3])
    assert read.clock == pytest.approx(expected[1], abs=1e-6)


@pytest.mark.parametrize(
    ("fmt", "tz", "text", "clock"),
    [
        ("iso", "America/Chicago", "2008-10-16T14:02:15.31", 50535.31),
        ("unix", "America/Chicago", "1224165735.31", 50535.31 - 5 * 3600),  # CDT
        ("unix", "UTC", "1224165735.31", 50535.31),
        ("msecs", "UTC", "50535310", 50535.31),
    ],
)
def test_time_formats_use_config_timezone(fmt: str, tz: str, text: str, clock: float) -> None:
    s = make(time_format=fmt, timezone=tz)
    s.receive_data(wire(GREETING), T0)
    (read,) = derived(s.receive_data(wire(f"CT01_33~1~start~9478~{text}~0~0F2A38~1"), T0))
    assert read.clock == pytest.approx(clock, abs=1e-6) and read.time_text == text


def test_reference_date_defaults_to_the_date_of_now_in_the_timezone() -> None:
    now = T0 + 3 * 3600  # 2008-10-16 16:50 UTC: in Tokyo it is already the 17th
    s = Ctp01Server(Ctp01Config(time_format="iso", timezone="Asia/Tokyo"), now=now)
    s.receive_data(wire(GREETING), now)
    (read,) = derived(s.receive_data(wire("CT01_33~1~start~9~2008-10-17T01:00:00~0~0F2A38~1"), now))
    assert read.clock == 3600.0
    utc = Ctp01Server(Ctp01Config(time_format="iso"), now=now)
    utc.receive_data(wire(GREETING), now)
    (read,) = derived(utc.receive_data(wire("CT01_33~1~start~9~2008-10-17T01:00:00~0~0F2A38~1"), now))
    assert read.clock == 86400 + 3600.0


MIDNIGHT = 1_224_201_600.0  # 2008-10-17 00:00 UTC, the night after the spec's example day


def read_at(s: Ctp01Server, text: str, now: float, tag: str = "9") -> float:
    s.receive_data(wire(GREETING), now)
    (read,) = derived(s.receive_data(wire(f"CT01_33~1~finish~{tag}~{text}~0~0F2A38~1"), now))
    assert isinstance(read, (TagRead, GunTime)) and read.time_text == text
    return read.clock


@pytest.mark.parametrize(
    ("reference", "text", "now", "clock"),
    [
        # the stream was made on the race day (the 16th): the gun, then finishers after midnight
        (DAY, "23:30:00.00", MIDNIGHT - 900, 84600.0),
        (DAY, "00:05:00.00", MIDNIGHT + 360, 86400 + 300.0),
        (DAY, "300000", MIDNIGHT + 360, 86400 + 300.0),  # msecs since midnight, the same read
        (DAY, "23:59:59.99", MIDNIGHT + 360, 86399.99),  # a late arrival from before midnight
        # the stream was made after midnight (its day is the 17th): the gun was the day before
        (dt.date(2008, 10, 17), "23:30:00.00", MIDNIGHT + 600, -1800.0),
        (dt.date(2008, 10, 17), "00:05:00.00", MIDNIGHT + 600, 300.0),
        # what carries its own day is never moved
        (DAY, "24:05:00.00", MIDNIGHT + 360, 86700.0),
        (DAY, "2008-10-16T00:05:00.00", MIDNIGHT - 60, 300.0),
        (DAY, "86700000", MIDNIGHT + 360, 86700.0),  # msecs past a day
        # a PC clock days away from the stream's date moves nothing (the clock warning tells)
        (DAY, "00:05:00.00", MIDNIGHT + 3 * 86400, 300.0),
        (DAY, "23:30:00.00", 0.0, 84600.0),
    ],
)
def test_a_time_of_day_lands_on_the_day_nearest_the_pc_clock(
    reference: dt.date, text: str, now: float, clock: float
) -> None:
    """A New Year's Eve race: gun at 23:30, finishers at 00:05 of the next day."""
    assert read_at(make(now, reference_date=reference), text, now) == pytest.approx(clock, abs=1e-6)


def test_a_race_across_midnight_keeps_its_elapsed_times_whichever_day_the_stream_began() -> None:
    for made in (MIDNIGHT - 3600, MIDNIGHT + 120):  # before the gun, and after midnight
        s = Ctp01Server(Ctp01Config(), seed=SEED, now=made)  # reference day: the PC's date then
        s.receive_data(wire(GREETING), made)
        gun, finish = derived(
            s.receive_data(
                wire(
                    "CT01_33~1~start~guntime~23:30:00.00~0~0F2A38~1",
                    "CT01_33~2~finish~7~00:08:12.00~0~0F2A38~1",
                ),
                MIDNIGHT + 600,
            )
        )
        assert isinstance(gun, GunTime) and isinstance(finish, TagRead)
        assert finish.clock - gun.clock == pytest.approx(38 * 60 + 12), made


def test_last_seq_tracks_reads_and_gun_times_but_not_newlocations() -> None:
    s = make()
    ready(s)
    s.receive_data(
        wire(
            "CT01_33~10~finish~1~08:00:00.00~0~0FA22E~1",
            "CT01_33~8~finish~2~08:00:01.00~0~0FA22E~1",  # resent, older
            "CT01_33~4~start~guntime~07:45:01.01~0~DF239A~0",
            "CT01_33~2038~30k~newlocation~14:02:15.31~0~ED932A~0",
        ),
        T0,
    )
    assert s.last_seq == {"finish": 10, "start": 4}
    assert s.locations == ("start", "finish", "30k")


# ---------------------------------------------------------------- connection id


def test_old_client_without_connection_id_gets_a_derived_stable_id() -> None:
    def run(lines: list[str]) -> list:
        s = make()
        s.receive_data(wire(GREETING), T0)
        return [e for e in derived(s.receive_data(wire(*lines), T0)) if isinstance(e, ConnectionIdentified)]

    first = run(["err~getconnectionid~unknown command", "ack~geteventinfo~LA08~12~LA"])
    other_order = run(["ack~geteventinfo~LA08~12~LA", "err~getconnectionid"])
    other_event = run(["ack~geteventinfo~NY09~13~NY", "err~getconnectionid"])
    no_event_info = run(["err~getconnectionid", "err~geteventinfo~nope"])
    waiting = run(["err~getconnectionid"])
    assert first == other_order and len(first) == 1
    assert first[0].from_client is False and first[0].connection_id.startswith("derived-")
    assert other_event[0].connection_id != first[0].connection_id
    assert len(no_event_info) == 1 and waiting == []


def test_connection_id_is_set_once() -> None:
    s = make()
    ready(s)
    events = derived(s.receive_data(wire("ack~getconnectionid~cid-1", "ack~getconnectionid~cid-2"), T0))
    assert [type(e) for e in events] == [BadLine] and s.connection_id == "cid-1"


# ---------------------------------------------------------------- push streaming and resume


def test_nothing_starts_before_begin_streaming_then_known_locations_start() -> None:
    s = make()
    ready(s)
    s.receive_data(wire("CT01_33~2038~30k~newlocation~14:02:15.31~0~ED932A~0"), T0)
    assert lines_out(s) == [] and s.started == frozenset()
    s.begin_streaming({"finish": 4530, "gone": 12})
    assert lines_out(s) == ["start~start", "start~finish~4530", "start~30k"]
    assert s.started == {"start", "finish", "30k"}
    assert s.last_seq == {"finish": 4530, "gone": 12}


def test_new_locations_start_once_with_cursor_if_known() -> None:
    s = make()
    ready(s, locations=["start"])
    s.begin_streaming({"half": 77})
    assert lines_out(s) == ["start~start"]
    s.receive_data(wire("CT01_33~2038~half~newlocation~14:02:15.31~0~ED932A~0"), T0)
    s.receive_data(wire("CT01_33~2039~half~newlocation~14:02:15.31~0~ED932A~0"), T0)
    s.receive_data(wire("ack~getlocations~start~half~finish"), T0)
    s.begin_streaming({})
    assert lines_out(s) == ["start~half~77", "start~finish"]


def test_stop_and_explicit_start() -> None:
    s = make(pushmode_ack=True)
    ready(s)
    s.begin_streaming({})
    lines_out(s)
    s.stop("finish")
    s.receive_data(wire("ack~stop~finish", "ack~getlocations~start~finish"), T0)
    assert lines_out(s) == ["stop~finish"]  # a stopped location is not restarted by discovery
    s.start("finish", 17)
    s.start("finish", 18)  # already started: no-op
    s.start("5k", 0)
    s.stop()
    s.start("start")
    assert lines_out(s) == ["start~finish~17", "start~5k", "stop", "start~start"]
    assert s.started == {"start"} and "5k" in s.locations


def test_commands_before_ready_and_bad_arguments_raise() -> None:
    s = make()
    for call in (lambda: s.begin_streaming({}), lambda: s.start("finish"), lambda: s.stop()):
        with pytest.raises(Ctp01StateError):
            call()
    ready(s)
    with pytest.raises(Ctp01Error):
        s.begin_streaming({"finish": -1})
    with pytest.raises(Ctp01Error):
        s.start("fin~ish")
    with pytest.raises(Ctp01Error):
        s.start("finish", -3)
    assert issubclass(Ctp01StateError, Ctp01Error)


# ---------------------------------------------------------------- pull mode


def pull_ready(**kw: object) -> Ctp01Server:
    s = make(stream_mode="pull", pull_batch=3, **kw)
    ready(s, locations=["finish"])
    return s


def test_pull_polls_from_tick_and_parses_replies() -> None:
    s = pull_ready()
    s.begin_streaming({})
    assert lines_out(s) == []  # no start in pull mode
    s.tick(T0 + 0.1)
    assert lines_out(s) == ["getdata~3~finish"]
    s.tick(T0 + 0.2)
    assert lines_out(s) == []  # one outstanding request at a time
    events = derived(
        s.receive_data(
            wire(
                "ack~getdata~2",
                "CT01_33~1~finish~guntime~07:45:01.01~0~DF239A~0",
                "CT01_33~2~finish~12~08:38:58.97~0~0FA22E~4",
            ),
            T0 + 0.3,
        )
    )
    assert [type(e) for e in events] == [GunTime, TagRead]
    s.tick(T0 + 0.5)
    assert lines_out(s) == []  # pull_interval (0.5 s) not over yet
    s.tick(T0 + 0.8)
    assert lines_out(s) == ["getdata~3~finish~2"]  # last seq: inclusive or not, nothing is lost


@pytest.mark.parametrize(
    ("first_seq", "next_request"), [(2, "getdata~3~finish~4"), (3, "getdata~3~finish~3")]
)
def test_pull_learns_whether_the_sequence_is_inclusive(first_seq: int, next_request: str) -> None:
    s = pull_ready()
    s.begin_streaming({"finish": 2})
    s.tick(T0)
    assert lines_out(s) == ["getdata~3~finish~2"]
    reply = [f"CT01_33~{n}~finish~{n}~08:00:00.00~0~0FA22E~1" for n in range(first_seq, 4)]
    s.receive_data(wire(f"ack~getdata~{len(reply)}", *reply), T0)
    s.tick(T0 + 1)
    assert lines_out(s) == [next_request]


def test_full_batch_polls_again_immediately_and_round_robins() -> None:
    s = pull_ready()
    s.receive_data(wire("ack~getlocations~finish~start"), T0)
    s.begin_streaming({})
    s.tick(T0)
    assert lines_out(s) == ["getdata~3~finish"]
    reply = [f"CT01_33~{n}~finish~{n}~08:00:00.00~0~0FA22E~1" for n in (1, 2, 3)]
    s.receive_data(wire("ack~getdata~3", *reply), T0 + 0.1)
    s.tick(T0 + 0.1)
    assert lines_out(s) == ["getdata~3~start"]
    s.receive_data(wire("ack~getdata~0"), T0 + 0.2)
    s.tick(T0 + 0.3)
    assert lines_out(s) == []
    s.tick(T0 + 0.7)
    assert lines_out(s) == ["getdata~3~finish~3"]


def test_pull_errors_and_short_replies_are_bad_lines_and_polling_continues() -> None:
    s = pull_ready()
    s.begin_streaming({})
    s.tick(T0)
    lines_out(s)
    events = derived(s.receive_data(wire("err~getdata~invalid location"), T0))
    assert [type(e) for e in events] == [BadLine]
    s.tick(T0 + 1)
    assert lines_out(s) == ["getdata~3~finish"]
    events = derived(
        s.receive_data(wire("ack~getdata~2", "CT01_33~1~finish~1~08:00:00.00~0~0FA22E~1", "ack~ping"), T0 + 1)
    )
    assert [type(e) for e in events] == [TagRead, BadLine]
    assert "cut short: 1 data line" in events[1].reason
    s.tick(T0 + 2)
    assert lines_out(s) == ["getdata~3~finish~1"]


def test_unanswered_getdata_is_reissued() -> None:
    s = pull_ready(dead_after=40.0)
    s.begin_streaming({})
    s.tick(T0)
    assert lines_out(s) == ["getdata~3~finish"]
    s.receive_data(wire("ack~ping"), T0 + 39)
    s.tick(T0 + 40)
    assert "getdata~3~finish" in lines_out(s)


def test_pull_mode_polls_getlocations_and_stop_sends_nothing() -> None:
    s = pull_ready(locations_poll_interval=30.0, ping_interval=1000.0)
    s.begin_streaming({})
    s.tick(T0 + 29)
    assert "getlocations" not in lines_out(s)
    s.tick(T0 + 30)
    assert "getlocations" in lines_out(s)
    s.stop("finish")
    s.receive_data(wire("ack~getdata~0"), T0 + 30)
    s.tick(T0 + 31)
    assert lines_out(s) == [] and s.started == frozenset()


def test_push_mode_polls_getlocations_only_without_newlocations() -> None:
    with_events = make(ping_interval=1000.0)
    without = make(newlocations=False, ping_interval=1000.0)
    for s in (with_events, without):
        ready(s)
        s.begin_streaming({})
        lines_out(s)
        s.tick(T0 + 31)
    assert lines_out(with_events) == [] and lines_out(without) == ["getlocations"]


# ---------------------------------------------------------------- pings and dead links


def test_pings_both_ways() -> None:
    s = make(ping_interval=10.0)
    ready(s)
    s.receive_data(wire("ping"), T0 + 1)
    assert lines_out(s) == ["ack~ping"]
    s.tick(T0 + 9.9)
    assert lines_out(s) == []
    s.tick(T0 + 10)
    assert lines_out(s) == ["ping"]
    assert derived(s.receive_data(wire("ack~ping"), T0 + 10.25)) == [PingAnswered(0.25)]
    s.tick(T0 + 20)
    s.tick(T0 + 30)
    assert lines_out(s) == ["ping", "ping"]
    events = derived(s.receive_data(wire("ack~ping", "ack~ping", "ack~ping"), T0 + 30.5))
    assert events == [PingAnswered(10.5), PingAnswered(0.5)]


def test_silence_kills_the_link_once() -> None:
    s = make(dead_after=40.0)
    ready(s)
    s.receive_data(b"ack~pi", T0 + 30)  # any bytes count as life
    assert s.tick(T0 + 69) == []
    assert s.tick(T0 + 70) == [LinkDead("no data from client for 40.0 s")]
    assert s.closed and s.tick(T0 + 100) == [] and s.receive_data(wire("ping"), T0 + 101) == []


@pytest.mark.parametrize(
    "lines",
    [[], [GREETING], [GREETING, "ack~geteventinfo~a~1~b"]],
)
def test_handshake_timeout(lines: list[str]) -> None:
    s = make(handshake_timeout=30.0, dead_after=100.0)
    s.receive_data(wire(*lines), T0 + 1)
    assert s.tick(T0 + 29.9) == []
    (dead,) = s.tick(T0 + 30)
    assert isinstance(dead, LinkDead) and "handshake" in dead.reason


def test_no_handshake_timeout_once_identified() -> None:
    s = make(handshake_timeout=30.0, dead_after=100.0)
    ready(s)
    assert s.tick(T0 + 99) == []


def test_overlong_line_is_a_bad_line_without_raw_line() -> None:
    s = make()
    s.receive_data(wire(GREETING), T0)
    events = s.receive_data(b"x" * 5000 + b"\r\nping\r\n", T0)
    assert isinstance(events[0], BadLine) and "too long" in events[0].reason
    assert events[1:] == [RawLine("ping")]


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "kw",
    [
        {"stream_mode": "shove"},
        {"location": "both"},
        {"time_format": "local"},
        {"authentication": "kerberos"},
        {"server_name": "Race~Control"},
        {"server_name": ""},
        {"server_version": "1.0\r\nOK"},
        {"server_name": "Zeitnahme \u20ac"},  # not latin-1
        {"ping_interval": 0},
        {"dead_after": -1},
        {"pull_batch": 0},
        {"pull_interval": -0.1},
        {"timezone": "Mars/Olympus"},
    ],
)
def test_bad_config_is_rejected(kw: dict) -> None:
    with pytest.raises(Ctp01ConfigError):
        make(**kw)


@pytest.mark.parametrize("seed", ["a~b", "", "x\r\ny"])
def test_bad_seed_is_rejected(seed: str) -> None:
    with pytest.raises(Ctp01ConfigError):
        make(seed=seed, authentication="hmac-md5")


# ---------------------------------------------------------------- real controller data


def controller_lines() -> list[str]:
    """Real 2021 ChronoTrack controller reads (9K mat) recast as CT01_33 unix-time lines."""
    out = []
    path = DATA / "chronotrack-2021" / "9K" / "5071949.csv"
    for n, row in enumerate(path.read_text().splitlines(), 1):
        f = row.split("~")
        out.append(f"CT01_33~{n}~9K~{f[2]}~{f[5]}~1~{f[6]}~{int(f[7])}")
    return out


def test_real_controller_reads_stream_through_in_random_chunks() -> None:
    lines = controller_lines()
    s = make(time_format="unix", timezone="America/Chicago", reference_date=None, now=1620458668.0)
    ready(s, now=1620458668.0, locations=["9K"])
    s.begin_streaming({})
    assert lines_out(s) == ["start~9K"]
    reads = []
    for chunk in chunked(wire(*lines), random.Random(3)):
        reads += [e for e in s.receive_data(chunk, 1620458670.0) if isinstance(e, TagRead)]
    assert len(reads) == len(lines) > 800 and s.bad_lines == 0
    assert s.last_seq == {"9K": len(lines)}
    tz = ZoneInfo("America/Chicago")
    for read in reads[::50]:
        wall = dt.datetime.fromtimestamp(float(read.time_text), tz)
        assert read.clock == pytest.approx(
            wall.hour * 3600 + wall.minute * 60 + wall.second + wall.microsecond / 1e6
        )
    assert lines_out(s) == []


# ---------------------------------------------------------------- fuzzing

_names = st.sampled_from(["start", "finish", "10k", "30k", "ANNOUNCER", "x y", "é", "="])
_fields = st.text(alphabet=st.characters(blacklist_characters="~\r\n\x00"), max_size=12)
_client_lines = st.one_of(
    st.just(GREETING),
    st.builds(
        lambda u, p: f"authorize~{u}~{p}",
        st.sampled_from(["TimersRus", "x"]),
        st.sampled_from(["s3cret", "z"]),
    ),
    st.sampled_from(["ping", "ack~ping", "ack~getconnectionid~cid", "err~getconnectionid", "ack~getdata~0"]),
    st.builds(lambda n: f"ack~getdata~{n}", st.integers(0, 5)),
    st.builds(lambda a: "ack~getlocations~" + "~".join(a), st.lists(_names, max_size=4)),
    st.builds(lambda a: "ack~geteventinfo~" + "~".join(a), st.lists(_fields, max_size=4)),
    st.builds(lambda a: "err~" + "~".join(a), st.lists(_fields, max_size=3)),
    st.builds(
        lambda seq, loc, tag, t: f"CT01_33~{seq}~{loc}~{tag}~{t}~0~0F2A38~1",
        st.one_of(st.integers(0, 10**7).map(str), _fields),
        _names,
        st.one_of(st.sampled_from(["guntime", "newlocation", "9478", "009573"]), _fields),
        st.one_of(st.sampled_from(["14:02:15.31", "102:12:32.37", "1224165735.31", "50535310"]), _fields),
    ),
    st.builds(lambda a: "~".join(a), st.lists(_fields, max_size=9)),
)
_actions = st.lists(
    st.one_of(
        st.tuples(
            st.just("lines"), st.lists(_client_lines, max_size=6), st.sampled_from(["\r\n", "\n", "\r"])
        ),
        st.tuples(st.just("bytes"), st.binary(max_size=64)),
        st.tuples(st.just("tick"), st.floats(0, 15)),
        st.tuples(st.just("call"), st.sampled_from(["begin", "start", "stop", "stop-all"]), _names),
    ),
    max_size=25,
)


def run_session(actions: list, config: Ctp01Config) -> None:
    s = Ctp01Server(config, seed=SEED, now=T0)
    now = T0
    started: set[str] = set()
    for action in actions:
        kind = action[0]
        events = []
        if kind == "lines":
            data = "".join(line + action[2] for line in action[1]).encode("latin-1", "replace")
            for i in range(0, len(data), 7):
                events += s.receive_data(data[i : i + 7], now)
        elif kind == "bytes":
            events = s.receive_data(action[1], now)
        elif kind == "tick":
            now += action[1]
            events = s.tick(now)
        else:
            try:
                if action[1] == "begin":
                    s.begin_streaming({"finish": 9})
                elif action[1] == "start":
                    s.start(action[2])
                elif action[1] == "stop":
                    s.stop(action[2])
                else:
                    s.stop()
            except Ctp01StateError:
                assert s.phase in ("greeting", "auth")
        assert sum(isinstance(e, LinkDead) for e in events) <= 1
        for line in lines_out(s):
            if line == "stop":
                started.clear()
            elif line.startswith("stop~"):
                started.discard(line.split("~")[1])
            elif line.startswith("start~"):
                loc = line.split("~")[1]
                assert loc not in started, f"{loc} started twice"
                started.add(loc)
    assert s.bad_lines >= 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000), st.lists(st.integers(1, 50), max_size=40))
def test_fuzz_arbitrary_bytes_in_arbitrary_chunks(data: bytes, cuts: list[int]) -> None:
    for config in (Ctp01Config(), Ctp01Config(stream_mode="pull", authentication="hmac-sha1")):
        s = Ctp01Server(config, seed=SEED, now=T0)
        i = 0
        for n in [*cuts, len(data)]:
            events = s.receive_data(data[i : i + n], T0 + i)
            assert all(not isinstance(e, LinkDead) or s.closed for e in events)
            i += n
            s.tick(T0 + i)
            lines_out(s)
        s.tick(T0 + 10_000)
        lines_out(s)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _actions,
    st.sampled_from(["push", "pull"]),
    st.sampled_from(["none", "plaintext", "seed-md5"]),
    st.booleans(),
)
def test_fuzz_protocol_sessions(actions: list, mode: str, auth: str, newlocations: bool) -> None:
    """Plausible-but-hostile sessions: never raise, only CTP01 lines out, never a double start."""
    config = Ctp01Config(
        stream_mode=mode,
        authentication=auth,
        credentials={"TimersRus": "s3cret"},
        newlocations=newlocations,
        pushmode_ack=True,
    )
    handshake = [GREETING, "authorize~TimersRus~s3cret", "ack~getlocations~finish", "ack~getconnectionid~c"]
    run_session([("lines", handshake, "\r\n"), ("call", "begin", "finish"), *actions], config)
    run_session(actions, config)
