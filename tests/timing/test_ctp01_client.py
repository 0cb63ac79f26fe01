"""The sans-IO CTP01 client (what SimpleClient says), table-driven plus fuzzing and interop."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from race_control.timing.protocols.chronotrack_time import render_time
from race_control.timing.protocols.ctp01_client import Ctp01Client, Ready, ServerHello
from race_control.timing.protocols.ctp01_feed import ClientState, DataRequested, StartRequested
from race_control.timing.protocols.ctp01_observations import ObservationLog
from race_control.timing.protocols.ctp01_server import Ctp01Server
from race_control.timing.protocols.ctp01_settings import DEFAULT_SETTINGS, Ctp01Config
from race_control.timing.protocols.events import (
    Authenticated,
    AuthenticationFailed,
    BadLine,
    ConnectionIdentified,
    GunTime,
    LinkDead,
    PingAnswered,
    TagRead,
)

T0 = dt.datetime(2021, 5, 8, 8, 0, 55, 160000)

# Every line a CTP01 client may send (docs/protocols/ctp01.md); the fuzz test checks all output against it.
_FIELD = r"[\x20-\x7d]*"
CLIENT_LINE = re.compile(
    "|".join(
        [
            r"SimpleClient~1\.2\.3~CTP01",
            r"authorize~[\x20-\x7d]*~[\x20-\x7d]*",
            rf"ack~geteventinfo~{_FIELD}~{_FIELD}~{_FIELD}",
            r"ack~getlocations(~[^~,;|]{1,16})*",
            rf"ack~getconnectionid~{_FIELD}",
            r"ack~ping",
            r"ping",
            r"ack~(start|stop)(~[^~]{1,16})?",
            rf"err~{_FIELD}~[a-z ]+",
            r"ack~getdata~\d+",
            r"CT01_33~\d{1,6}~[^~,;|]{1,16}~[0-9A-Za-z_-]{1,11}~[0-9:.T-]{8,22}~\d{1,3}~[0-9A-Za-z]{0,6}~\d{1,2}",
        ]
    )
)


def out_lines(client: Ctp01Client) -> list[str]:
    data = client.data_to_send()
    assert data == b"" or data.endswith(b"\r\n")
    return data.decode("ascii").split("\r\n")[:-1] if data else []


def server_says(*lines: str) -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode()


def make_client(**kw: object) -> Ctp01Client:
    c = Ctp01Client("SimpleClient", "1.2.3", event_name="RunFest", event_id="12", description="RunFest 2021",
                    connection_id="conn-1", **kw)  # fmt: skip
    c.initiate()
    assert out_lines(c) == ["SimpleClient~1.2.3~CTP01"]
    return c


def handshake(client: Ctp01Client, *settings_lines: str) -> list[object]:
    events = client.receive_data(server_says(f"Srv~1.0~{len(settings_lines)}", *settings_lines), 0.0)
    return events


PUSH = ("stream-mode=push", "location=multi", "guntimes=true")


def test_greeting_is_configurable() -> None:
    c = Ctp01Client("Tachyon", "3.6.36")
    assert c.data_to_send() == b""
    c.initiate()
    c.initiate()  # only once
    assert c.data_to_send() == b"Tachyon~3.6.36~CTP01\r\n"


def test_defaults_when_server_sends_no_settings() -> None:
    c = make_client()
    events = handshake(c)
    assert ServerHello("Srv", "1.0", 0) in events
    assert Ready(DEFAULT_SETTINGS) in events
    assert c.settings["stream-mode"] == "pull"
    assert c.state is ClientState.READY
    assert out_lines(c) == []  # pull mode: the client waits for commands


def test_settings_subset_and_unknown_keys() -> None:
    c = make_client()
    events = handshake(c, "Stream-Mode = PUSH", "newlocations=true", "x-extra=1", "time-format=bogus", "junk")
    assert c.settings["stream-mode"] == "push"
    assert c.settings["newlocations"] == "true"
    assert c.settings["x-extra"] == "1"
    assert c.settings["time-format"] == "normal"  # invalid value: default kept
    assert c.settings["guntimes"] == "false"
    assert sum(isinstance(e, BadLine) for e in events) == 2
    assert c.state is ClientState.READY


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("geteventinfo", ["ack~geteventinfo~RunFest~12~RunFest 2021"]),
        ("getlocations", ["ack~getlocations~start~finish"]),
        ("getconnectionid", ["ack~getconnectionid~conn-1"]),
        ("ping", ["ack~ping"]),
        ("frobnicate~1~2", ["err~frobnicate~unknown command"]),
        ("~x", ["err~~unknown command"]),
        ("getdata~5", ["err~getdata~not in pull mode"]),
        ("start~nowhere", []),  # no pushmode-ack: silent
        ("stop~finish", []),  # not started, no ack: silent
        ("ack~something", []),
    ],
)
def test_command_table_push(command: str, reply: list[str]) -> None:
    c = make_client()
    c.log.add_location("start")
    c.log.add_location("finish")
    handshake(c, *PUSH)
    out_lines(c)
    c.receive_data(server_says(command), 1.0)
    assert out_lines(c) == reply


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("start", ["ack~start"]),
        ("start~finish", ["ack~start~finish"]),
        ("start~nowhere", ["err~start~invalid location"]),
        ("start~finish~abc", ["err~start~invalid sequence number"]),
        ("stop", ["ack~stop"]),
        ("stop~finish", ["err~stop~location not started"]),
    ],
)
def test_pushmode_ack(command: str, reply: list[str]) -> None:
    c = make_client()
    c.log.add_location("finish")
    handshake(c, "stream-mode=push", "pushmode-ack=true")
    c.receive_data(server_says(command), 1.0)
    assert out_lines(c) == reply


def test_push_sends_only_started_locations_from_requested_seq() -> None:
    c = make_client()
    handshake(c, *PUSH)
    c.add_observation("start", "12", T0, 1, "0FA22E", 4)
    c.add_gun_time("start", T0, "DF239A")
    c.add_observation("finish", "13", T0 + dt.timedelta(seconds=1.5), 1, "0FA22E", 2)
    assert out_lines(c) == []  # nothing started yet
    events = c.receive_data(server_says("start~start~2"), 1.0)
    assert StartRequested("start", 2, ("start",)) in events
    assert out_lines(c) == ["CT01_33~2~start~guntime~08:00:55.16~0~DF239A~0"]
    c.add_observation("finish", "14", T0, 1, "0FA22E", 2)  # finish not started
    c.add_observation("start", "15", T0, 2, "0FA22E", 4)
    assert out_lines(c) == ["CT01_33~3~start~15~08:00:55.16~2~0FA22E~4"]
    c.receive_data(server_says("start"), 2.0)  # all locations known now, from the first observation
    assert out_lines(c) == [
        "CT01_33~1~start~12~08:00:55.16~1~0FA22E~4",
        "CT01_33~2~start~guntime~08:00:55.16~0~DF239A~0",
        "CT01_33~3~start~15~08:00:55.16~2~0FA22E~4",
        "CT01_33~1~finish~13~08:00:56.66~1~0FA22E~2",
        "CT01_33~2~finish~14~08:00:55.16~1~0FA22E~2",
    ]
    c.add_observation("later", "16", T0)  # a new location never starts by itself
    c.receive_data(server_says("stop~start"), 3.0)
    c.add_observation("start", "17", T0)
    c.add_observation("finish", "18", T0)
    assert out_lines(c) == ["CT01_33~3~finish~18~08:00:55.16~0~~0"]


def test_guntimes_false_hides_guns_but_keeps_numbering() -> None:
    c = make_client()
    handshake(c, "stream-mode=push")
    c.add_gun_time("start", T0, "DF239A")
    c.add_observation("start", "12", T0)
    c.receive_data(server_says("start"), 1.0)
    assert out_lines(c) == ["CT01_33~2~start~12~08:00:55.16~0~~0"]
    assert c.caught_up()


def test_newlocation_events_and_connection_id_gate() -> None:
    log = ObservationLog()
    log.add("start", "1", T0, 0, "ED932A", 1)
    c = make_client(log=log)
    handshake(c, "stream-mode=push", "newlocations=true", "connection-id=true")
    assert out_lines(c) == []  # held back until getconnectionid
    c.receive_data(server_says("getconnectionid"), 1.0)
    assert out_lines(c) == [
        "ack~getconnectionid~conn-1",
        "CT01_33~1~start~newlocation~08:00:55.16~0~ED932A~0",
    ]
    c.add_observation("30k", "2", T0 + dt.timedelta(minutes=1), 0, "ABCDEF", 1)
    assert out_lines(c) == ["CT01_33~2~30k~newlocation~08:01:55.16~0~ABCDEF~0"]


def test_pull_mode_getdata() -> None:
    c = make_client()
    handshake(c, "guntimes=true")
    assert c.receive_data(server_says("getdata~5"), 1.0)
    assert out_lines(c) == ["ack~getdata~0"]
    c.add_gun_time("start", dt.datetime(2008, 10, 16, 7, 45, 1, 10000), "DF239A")
    c.add_observation("finish", "12", dt.datetime(2008, 10, 16, 8, 38, 58, 970000), 0, "0FA22E", 4)
    c.add_observation("finish", "2948", dt.datetime(2008, 10, 16, 8, 39, 1, 620000), 0, "04BE82", 2)
    events = c.receive_data(server_says("getdata~2"), 2.0)
    assert DataRequested(2, None, None, 2) in events
    assert out_lines(c) == [
        "ack~getdata~2",
        "CT01_33~1~start~guntime~07:45:01.01~0~DF239A~0",
        "CT01_33~1~finish~12~08:38:58.97~0~0FA22E~4",
    ]
    c.receive_data(server_says("getdata~50"), 3.0)
    assert out_lines(c) == ["ack~getdata~1", "CT01_33~2~finish~2948~08:39:01.62~0~04BE82~2"]
    assert c.caught_up()
    c.receive_data(server_says("getdata~50~finish~1", "getdata~1~nowhere", "getdata~x", "start"), 4.0)
    assert out_lines(c) == [
        "ack~getdata~2",
        "CT01_33~1~finish~12~08:38:58.97~0~0FA22E~4",
        "CT01_33~2~finish~2948~08:39:01.62~0~04BE82~2",
        "err~getdata~invalid location",
        "err~getdata~invalid item count",
        "err~start~not in push mode",
    ]


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("normal", "14:02:15.31"),
        ("iso", "2008-10-16T14:02:15.31"),
        ("unix", "1224165735.31"),  # the spec's own example: wall clock counted as UTC
        ("msecs", "50535310"),  # milliseconds since midnight
    ],
)
def test_time_formats(fmt: str, text: str) -> None:
    when = dt.datetime(2008, 10, 16, 14, 2, 15, 319000)  # truncated, not rounded
    assert render_time(when, fmt) == text
    c = make_client()
    handshake(c, "stream-mode=push", f"time-format={fmt}")
    c.add_observation("start", "9478", when, 0, "0F2A38", 1)
    c.receive_data(server_says("start"), 1.0)
    assert out_lines(c) == [f"CT01_33~1~start~9478~{text}~0~0F2A38~1"]


def test_comma_separated_format_and_verbatim_time_text() -> None:
    c = make_client()
    handshake(c, "stream-mode=push", "tagevent-format=CT01_13")
    c.add_observation("start", "12", "06:08:32.02", 1, "0FA22E", 4)
    c.receive_data(server_says("start"), 1.0)
    assert out_lines(c) == ["CT01_13,1,start,12,06:08:32.02,1,0FA22E,4"]


def test_fixed_width_format_falls_back_to_ct01_33() -> None:
    c = make_client()
    events = handshake(c, "stream-mode=push", "tagevent-format=CT01_0C")
    assert any(isinstance(e, BadLine) for e in events)
    assert c.settings["tagevent-format"] == "CT01_33"


# --- authentication -------------------------------------------------------------------------


def _expected(method: str, password: str, seed: str) -> str:
    if method == "plaintext":
        return password
    algo = method.split("-")[1]
    if method.startswith("hmac"):
        return hmac.new(password.encode(), seed.encode(), getattr(hashlib, algo)).hexdigest()
    return getattr(hashlib, algo)((seed + password).encode()).hexdigest()


@pytest.mark.parametrize("method", ["plaintext", "hmac-sha1", "hmac-md5", "seed-sha1", "seed-md5"])
def test_authentication_methods(method: str) -> None:
    c = make_client(user="TimersRus", password="s3cret")
    handshake(c, f"authentication={method}", "authentication-seed=8f2d1c", "stream-mode=push")
    assert out_lines(c) == [f"authorize~TimersRus~{_expected(method, 's3cret', '8f2d1c')}"]
    assert c.state is ClientState.AWAIT_AUTH
    c.receive_data(server_says("geteventinfo"), 0.5)  # not before the auth reply
    assert out_lines(c) == []
    events = c.receive_data(server_says("ack~authorize", "getlocations"), 1.0)
    assert Authenticated("TimersRus") in events
    assert c.authenticated
    assert out_lines(c) == ["ack~getlocations"]


def test_hmac_known_vector() -> None:
    # RFC 2202 test case 2: key "Jefe", data "what do ya want for nothing?"
    c = make_client(user="u", password="Jefe")
    handshake(c, "authentication=hmac-sha1", "authentication-seed=what do ya want for nothing?")
    assert out_lines(c) == ["authorize~u~effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"]


def test_authentication_rejected_closes() -> None:
    c = make_client(user="u", password="p")
    handshake(c, "authentication=plaintext")
    events = c.receive_data(server_says("err~authorize~bad password", "getlocations"), 1.0)
    assert AuthenticationFailed("u", "bad password") in events
    assert any(isinstance(e, LinkDead) for e in events)
    assert c.state is ClientState.CLOSED
    assert out_lines(c) == ["authorize~u~p"]
    assert c.receive_data(b"ping\r\n", 2.0) == []


def test_authentication_without_credentials_is_a_clear_failure() -> None:
    c = make_client()
    events = handshake(c, "authentication=seed-md5")
    assert next(e for e in events if isinstance(e, LinkDead)).reason.startswith("server requires seed-md5")
    assert out_lines(c) == []


def test_bad_server_reply_kills_link() -> None:
    c = make_client()
    events = c.receive_data(b"OK\r\n", 1.0)
    assert any(isinstance(e, LinkDead) for e in events)
    assert out_lines(c) == []


# --- pings ----------------------------------------------------------------------------------


def test_own_ping_and_timeout() -> None:
    c = make_client(ping_interval=10.0, ping_timeout=5.0)
    handshake(c, "stream-mode=push")
    c.tick(0.0)
    assert out_lines(c) == ["ping"]
    c.tick(3.0)
    assert out_lines(c) == []  # one outstanding ping at a time
    events = c.receive_data(b"ack~ping\r\n", 4.0)
    assert PingAnswered(4.0) in events
    c.tick(9.0)
    assert out_lines(c) == []
    c.tick(10.0)
    assert out_lines(c) == ["ping"]
    assert isinstance(c.tick(15.5)[0], LinkDead)
    assert c.state is ClientState.CLOSED


# --- chunking: whole, byte by byte, every two-way split ------------------------------------

SCRIPT = server_says(
    "Srv~1.0~4", "stream-mode=push", "guntimes=true", "pushmode-ack=true", "newlocations=true",
    "geteventinfo", "getlocations", "getconnectionid", "start~finish~2", "ping", "bogus",
)  # fmt: skip


def _run(chunks: list[bytes]) -> list[str]:
    log = ObservationLog()
    for i in range(3):
        log.add("finish", str(100 + i), T0 + dt.timedelta(seconds=i), 1, "0FA22E", 4)
    c = make_client(log=log)
    for i, chunk in enumerate(chunks):
        c.receive_data(chunk, float(i))
    return out_lines(c)


EXPECTED_SCRIPT = [
    "CT01_33~1~finish~newlocation~08:00:55.16~0~0FA22E~0",
    "ack~geteventinfo~RunFest~12~RunFest 2021",
    "ack~getlocations~finish",
    "ack~getconnectionid~conn-1",
    "ack~start~finish",
    "CT01_33~2~finish~101~08:00:56.16~1~0FA22E~4",
    "CT01_33~3~finish~102~08:00:57.16~1~0FA22E~4",
    "ack~ping",
    "err~bogus~unknown command",
]


def test_script_whole_bytewise_and_split() -> None:
    assert _run([SCRIPT]) == EXPECTED_SCRIPT
    assert _run([SCRIPT[i : i + 1] for i in range(len(SCRIPT))]) == EXPECTED_SCRIPT
    for cut in range(0, len(SCRIPT), 7):
        assert _run([SCRIPT[:cut], SCRIPT[cut:]]) == EXPECTED_SCRIPT


def test_script_twice_repeats_the_commands() -> None:
    out = _run([SCRIPT, SCRIPT.split(b"\r\n", 5)[5]])  # the commands again (not the handshake)
    assert out == EXPECTED_SCRIPT + EXPECTED_SCRIPT[1:]


def test_lf_only_and_nul_tolerated() -> None:
    assert _run([SCRIPT.replace(b"\r\n", b"\n").replace(b"ping", b"pi\x00ng")]) == EXPECTED_SCRIPT


# --- fuzzing ---------------------------------------------------------------------------------

_server_tokens = st.sampled_from(
    [b"Srv~1~2\r\n", b"stream-mode=push\r\n", b"stream-mode=pull\r\n", b"guntimes=true\r\n", b"start\r\n",
     b"start~finish~", b"getdata~", b"stop\r\n", b"ping\r\n", b"getlocations\r\n", b"geteventinfo\r\n",
     b"ack~ping\r\n", b"~", b"\r\n", b"\n", b"\r", b"\x00", b"\xff\xfe", b"authentication=plaintext\r\n",
     b"ack~authorize\r\n", b"err~authorize\r\n", b"9", b"-1", b"\xe9t\xe9\r\n", b"x" * 5000]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.booleans(),
    chunks=st.lists(st.one_of(st.binary(max_size=40), _server_tokens), max_size=30),
    observations=st.lists(st.integers(0, 2), max_size=6),
)
def test_fuzz_server_bytes_never_raise_and_output_is_valid(
    prefix: bool, chunks: list[bytes], observations: list[int]
) -> None:
    c = Ctp01Client(user="u", password="p", connection_id="c1", ping_interval=1.0)
    c.initiate()
    if prefix:
        c.receive_data(server_says("Srv~1~3", "stream-mode=push", "guntimes=true", "newlocations=true"), 0.0)
    out = c.data_to_send()
    for i, chunk in enumerate(chunks):
        c.receive_data(chunk, float(i))
        c.tick(float(i))
        if i < len(observations):
            loc = ("start", "finish", "a b")[observations[i]]
            if observations[i] == 0:
                c.add_gun_time(loc, T0, "DF239A")
            else:
                c.add_observation(loc, str(i), T0, 1, "0FA22E", 4)
        out += c.data_to_send()
    assert out.endswith(b"\r\n")
    for line in out.decode("ascii").split("\r\n")[:-1]:
        assert CLIENT_LINE.fullmatch(line), line


# --- interop with our own server (both sans-IO, bytes shuttled in memory) ----------------------


def _shuttle(server: Ctp01Server, client: Ctp01Client, now: float) -> list[object]:
    events: list[object] = []
    for _ in range(20):
        up, down = client.data_to_send(), server.data_to_send()
        if not up and not down:
            break
        for ev in server.receive_data(up, now):
            events.append(ev)
            if isinstance(ev, ConnectionIdentified):
                server.begin_streaming({})
        client.receive_data(down, now)
        events += server.tick(now)
    return events


@pytest.mark.parametrize("mode", ["push", "pull"])
def test_interop_with_ctp01_server(mode: str) -> None:
    config = Ctp01Config(
        stream_mode=mode, reference_date=dt.date(2021, 5, 8), pull_interval=0.0, locations_poll_interval=1.0
    )
    server = Ctp01Server(config, seed="s", now=0.0)
    client = Ctp01Client(connection_id="conn-9")
    client.add_gun_time("START", T0, "I11A9D")
    client.add_observation("START", "9511", T0 + dt.timedelta(seconds=3), 1, "12000C", 8)
    client.initiate()
    events = _shuttle(server, client, 1.0)
    client.add_observation("FINISH", "12", T0 + dt.timedelta(hours=1), 1, "120044", 1)
    events += _shuttle(server, client, 2.0)
    events += _shuttle(server, client, 3.0)  # pull: the server polls getlocations, then getdata
    events += _shuttle(server, client, 4.0)
    reads = [
        (type(e).__name__, e.location, e.seq, e.time_text) for e in events if isinstance(e, TagRead | GunTime)
    ]
    assert sorted(set(reads)) == [  # the server may re-pull one read to learn inclusiveness; it dedupes
        ("GunTime", "START", 1, "08:00:55.16"),
        ("TagRead", "FINISH", 1, "09:00:55.16"),
        ("TagRead", "START", 2, "08:00:58.16"),
    ]
    assert client.state is ClientState.READY
