"""Streams cannot be hijacked or erased by another host on the LAN.

The attack (issue 9): CTP01 authentication is off, a stream is named only by the connection
id the client sends, so a stranger claims a running stream's id and sends seq 1…N of a test
tag.  Before, every real read up to N was dropped as a "duplicate" and the real client was
told to resume at N.  Here a real client on 127.0.0.1 and an attacker on 127.0.0.2 (both
loopback, real sockets, a real server and SQLite file) play it, and every real read is shown.
Also: the contiguous resume cursor, conflicts (same seq, other content), a claim while the
stream is not connected, and the allow-list of timing client networks.
"""

from __future__ import annotations

import asyncio
import json
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text

from race_control.app import RaceControl
from race_control.cli import build_parser
from race_control.config import load_settings, timing_exposure
from tests.conftest import Api, make_settings
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.live_app import running
from tests.helpers.server_process import start_serve
from tests.helpers.waiting import until

CONN_ID = "finish-line-controller-1"


async def connect_from(host: str, port: int) -> RawCtp01Client:
    """A raw CTP01 client whose socket is bound to ``host`` (a loopback address)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(host, 0))
    return RawCtp01Client(reader, writer)


def real_reads(first: int, last: int) -> bytes:
    """Runner ``i`` crosses the finish as read ``i`` (bib = seq), a second apart."""
    return b"".join(
        f"CT01_33~{i}~finish~{i}~09:{i // 60:02d}:{i % 60:02d}.00~0~0FA22E~1\r\n".encode()
        for i in range(first, last + 1)
    )


def attack_reads(first: int, last: int, tag: str = "99999") -> bytes:
    """The attacker's: one test tag under every seq."""
    return b"".join(
        f"CT01_33~{i}~finish~{tag}~10:00:00.00~0~BADBAD~1\r\n".encode() for i in range(first, last + 1)
    )


# --- against a real server -------------------------------------------------------------


async def stream_json(api: Api, source_key: str) -> dict[str, Any] | None:
    streams = await api.ok("GET", "/api/timing/sessions")
    return next((s for s in streams if s["source_key"] == source_key), None)


async def stream_of(api: Api, source_key: str) -> dict[str, Any]:
    for _ in range(1500):
        if (found := await stream_json(api, source_key)) is not None:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"no timing session {source_key!r}")


async def session_on(api: Api, stream_id: str, bibs: int) -> dict[str, Any]:
    event = await api.ok("POST", "/api/events", {"name": "Hijack 10K", "date": "2026-06-01"}, 201)
    await api.ok(
        "POST",
        f"/api/events/{event['id']}/participants",
        [{"bib": str(b), "first_name": f"Runner{b}", "last_name": "X"} for b in range(1, bibs + 1)],
    )
    session = await api.ok("POST", "/api/sessions", {"event_id": event["id"], "mode": "results"}, 201)
    await api.ok("POST", f"/api/sessions/{session['id']}/timing", {"timing_session_id": stream_id})
    return session


def alerts_of(rc: RaceControl, kind: str) -> list[dict[str, Any]]:
    assert rc.services is not None
    return [a.to_json() for a in rc.services.alerts.alerts() if a.kind == kind]


async def test_a_stranger_claiming_a_running_stream_erases_no_finisher(rc: RaceControl, api: Api) -> None:
    assert rc.services is not None
    s = rc.services
    real = await connect_from("127.0.0.1", rc.timing_port)
    assert await real.handshake(CONN_ID) == ["start~finish"]
    stream = await stream_of(api, CONN_ID)
    session = await session_on(api, stream["id"], bibs=210)
    await real.send(real_reads(1, 100))
    state = s.timing.stream(stream["id"])
    assert state is not None
    await until(lambda: state.reads == 100, what="the first 100 real reads")

    # the stranger: same connection id from another address, seq 1…2000 of a test tag
    attacker = await connect_from("127.0.0.2", rc.timing_port)
    assert await attacker.handshake(CONN_ID) == ["start~finish"]  # a new stream: no cursor of ours
    await attacker.send(attack_reads(1, 2000))
    fake = await stream_of(api, f"{CONN_ID}@127.0.0.2")
    fake_state = s.timing.stream(fake["id"])
    assert fake_state is not None
    await until(lambda: fake_state.reads == 2000, what="the attacker's 2000 reads, on its own stream")

    # the real controller goes on, drops off, reconnects and resumes
    await real.send(real_reads(101, 200))
    await until(lambda: state.reads == 200, what="the next 100 real reads")
    await real.close()
    await until(lambda: not state.peers.get("127.0.0.1"), what="the real link gone")
    real = await connect_from("127.0.0.1", rc.timing_port)
    assert await real.handshake(CONN_ID) == ["start~finish~200"]  # its own contiguous cursor
    await real.send(real_reads(200, 210))  # 200 again (an inclusive resend), then ten more
    await until(lambda: state.reads == 210, what="the reads after the reconnect")
    await s.pipeline.drain()

    finishers = await api.ok("GET", f"/api/sessions/{session['id']}/finishers")
    assert sorted(int(f["bib"]) for f in finishers if f["type"] == "finisher") == list(range(1, 211))
    assert all(f.get("bib") != "99999" for f in finishers)

    real_json = await stream_of(api, CONN_ID)
    assert real_json["reads"] == 210 and real_json["cursors"] == {"finish": 210}
    assert real_json["conflicts"] == 0 and real_json["suspect"] is False
    assert real_json["claimed_from"] == ""
    fake = await stream_of(api, f"{CONN_ID}@127.0.0.2")
    assert fake["suspect"] is True and fake["claimed_from"] == stream["id"] and fake["reads"] == 2000
    claimed = alerts_of(rc, "stream_claimed")
    assert [(a["severity"], a["details"]["claimant"]) for a in claimed] == [("critical", "127.0.0.2")]
    assert "127.0.0.1" in claimed[0]["message"] and "127.0.0.2" in claimed[0]["message"]
    assert alerts_of(rc, "seq_conflict") == []  # nothing reached the real stream

    # the stranger comes back while the real stream is not connected: still its own stream
    await real.close()
    await attacker.close()
    await until(lambda: not state.connections and not fake_state.connections, what="both gone")
    attacker = await connect_from("127.0.0.2", rc.timing_port)
    assert await attacker.handshake(CONN_ID) == ["start~finish~2000"]  # its stream's cursor
    await until(lambda: fake_state.connections == 1, what="the attacker back on its stream")
    assert state.connections == 0 and state.remote_addr.startswith("127.0.0.1:")
    assert alerts_of(rc, "stream_claimed")[0]["count"] == 2
    await attacker.close()


async def test_other_content_under_a_stored_seq_is_a_conflict_kept_counted_and_alerted(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path / "data")
    async with running(settings) as (rc, api):
        assert rc.services is not None
        s = rc.services
        client = await RawCtp01Client.connect(rc.timing_port)
        await client.handshake(CONN_ID)
        stream = await stream_of(api, CONN_ID)
        state = s.timing.stream(stream["id"])
        assert state is not None
        await client.send(real_reads(1, 5))
        await until(lambda: state.reads == 5, what="five reads")
        await client.send(real_reads(3, 3))  # the same read again: a resend, nothing to tell
        await client.send(b"CT01_33~3~finish~777~11:11:11.00~0~0FA22E~1\r\n")  # seq 3, other content
        await client.send(real_reads(6, 6))
        await client.send(b"CT01_33~200000~finish~8~09:00:08.00~0~0FA22E~1\r\n")  # far above a gap
        await until(lambda: state.reads == 7, what="the reads after the conflict")
        await s.pipeline.drain()
        await s.timing.flush()
        listed = await stream_of(api, CONN_ID)
        assert listed["conflicts"] == 1 and listed["reads"] == 7
        assert listed["cursors"] == {"finish": 6}  # the end of 1..6, not 200000
        (alert,) = alerts_of(rc, "seq_conflict")
        assert alert["severity"] == "critical" and alert["details"]["seq"] == 3 and alert["count"] == 1
        assert "777" in alert["message"]

        def stored(conn: Connection) -> tuple[list[Any], list[Any], list[Any]]:
            sid = {"s": state.id}
            conflicts = conn.execute(
                text("select location, seq, tag, time_text, raw_n from read_conflicts where stream_id = :s"),
                sid,
            ).all()
            read3 = conn.execute(
                text("select tag, time_text from reads where stream_id = :s and seq = 3"), sid
            ).all()
            lines = conn.execute(
                text(
                    "select n, line from raw_lines where stream_id = :s and line like 'CT01_33~3~%' order by n"
                ),
                sid,
            ).all()
            return [tuple(r) for r in conflicts], [tuple(r) for r in read3], [tuple(r) for r in lines]

        conflicts, read3, lines = await s.store.run(stored)
        assert read3 == [("3", "09:00:03.00")]  # the read stored first stays
        assert [line for _n, line in lines] == [
            "CT01_33~3~finish~3~09:00:03.00~0~0FA22E~1",
            "CT01_33~3~finish~3~09:00:03.00~0~0FA22E~1",
            "CT01_33~3~finish~777~11:11:11.00~0~0FA22E~1",
        ]  # every line kept, and the conflict points at the other one's raw line
        assert conflicts == [("finish", 3, "777", "11:11:11.00", lines[2][0])]
        await client.close()
        await until(lambda: not state.connections, what="disconnected")

    async with running(settings) as (rc, api):  # the count is rebuilt from read_conflicts
        listed = await stream_of(api, CONN_ID)
        assert listed["conflicts"] == 1 and listed["cursors"] == {"finish": 6}
        client = await RawCtp01Client.connect(rc.timing_port)
        assert await client.handshake(CONN_ID) == ["start~finish~6"]
        # a resend of 6 (no conflict), other content under 2 (a conflict with a read stored before
        # the restart), then the gap is filled
        await client.send(
            real_reads(6, 6) + b"CT01_33~2~finish~778~11:11:12.00~0~0FA22E~1\r\n" + real_reads(7, 7)
        )
        assert rc.services is not None
        state = rc.services.timing.stream(listed["id"])
        assert state is not None
        await until(lambda: state.reads == 8, what="read 7")
        assert state.conflicts == 2 and state.cursors() == {"finish": 7}
        (alert,) = alerts_of(rc, "seq_conflict")
        assert alert["details"]["seq"] == 2 and alert["details"]["conflicts"] == 2
        await client.close()


async def test_a_claim_while_the_stream_is_not_connected_is_accepted_with_a_warning(
    rc: RaceControl, api: Api
) -> None:
    assert rc.services is not None
    first = await connect_from("127.0.0.1", rc.timing_port)
    await first.handshake(CONN_ID)
    stream = await stream_of(api, CONN_ID)
    state = rc.services.timing.stream(stream["id"])
    assert state is not None
    await first.send(real_reads(1, 3))
    await until(lambda: state.reads == 3, what="three reads")
    await first.close()
    await until(lambda: not state.connections, what="disconnected")
    assert alerts_of(rc, "stream_claimed") == []

    moved = await connect_from("127.0.0.2", rc.timing_port)  # the controller got a new address
    assert await moved.handshake(CONN_ID) == ["start~finish~3"]
    await until(lambda: state.peers.get("127.0.0.2"), what="the same stream, from the new address")
    (alert,) = alerts_of(rc, "stream_claimed")
    assert alert["severity"] == "warning" and alert["details"] == {
        "previous": "127.0.0.1",
        "now": "127.0.0.2",
    }
    await moved.send(real_reads(4, 5))
    await until(lambda: state.reads == 5, what="its next reads on the stream")
    assert [x.source_key for x in rc.services.timing.streams()] == [CONN_ID]
    await moved.close()


# --- the allow-list of timing client networks --------------------------------------------


async def refused_at_once(client: RawCtp01Client) -> bool:
    """The server closed the connection without a byte (EOF or a reset), even after we spoke."""
    try:
        await client.send(b"SimpleClient~1.2.3~CTP01\r\n")
        data = await asyncio.wait_for(client.reader.read(100), 10)
    except (ConnectionError, OSError):
        return True
    return data == b""


async def test_a_client_outside_the_allow_list_is_refused_at_accept(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", timing_allow=("127.0.0.1/32",))
    async with running(settings) as (rc, api):
        assert rc.services is not None
        stranger = await connect_from("127.0.0.3", rc.timing_port)
        assert await refused_at_once(stranger)
        await stranger.close()
        (alert,) = alerts_of(rc, "timing_refused")
        assert alert["details"]["refused"] == 1 and "127.0.0.3" in alert["message"]
        ok = await connect_from("127.0.0.1", rc.timing_port)
        assert await ok.handshake(CONN_ID) == ["start~finish"]
        await stream_of(api, CONN_ID)
        assert [x.source_key for x in rc.services.timing.streams()] == [CONN_ID]
        await ok.close()


def test_timing_allow_from_the_command_line_and_the_settings_file(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["serve", "--timing-allow", "192.168.1.0/24", "--timing-allow", "10.0.0.5"]
    )
    assert args.timing_allow == ["192.168.1.0/24", "10.0.0.5"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--timing-allow", "192.168.1.300/24"])
    (tmp_path / "settings.json").write_text(json.dumps({"timing_allow": ["192.168.1.0/24"]}))
    settings = load_settings(tmp_path)
    assert settings.timing_allow == ("192.168.1.0/24",)
    assert timing_exposure(settings) == ""  # an allow-list guards the port
    (tmp_path / "settings.json").write_text(json.dumps({"timing_allow": ["not a network"]}))
    with pytest.raises(ValueError, match="not a network"):
        load_settings(tmp_path)
    (tmp_path / "settings.json").write_text("{}")
    open_port = load_settings(tmp_path)
    assert "--ctp01-auth" in timing_exposure(open_port) and "--timing-allow" in timing_exposure(open_port)
    assert timing_exposure(replace(open_port, ctp01_authentication="hmac-sha1")) == ""
    assert timing_exposure(replace(open_port, host="127.0.0.1")) == ""  # this laptop only


async def test_serve_recommends_authentication_or_an_allow_list_when_the_lan_can_connect(
    tmp_path: Path,
) -> None:
    said = {}
    for name, args in (("open", ()), ("allow", ("--timing-allow", "192.168.1.0/24"))):
        data_dir = tmp_path / name
        data_dir.mkdir()
        proc = await start_serve(data_dir, "--host", "0.0.0.0", *args)
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err
        log = "".join(f.read_text("utf-8") for f in (data_dir / "logs").glob("*.log"))
        said[name] = (err.decode(), log)
    err, log = said["open"]
    assert "Warning: Any computer on this network can connect to the timing port" in err
    assert "--ctp01-auth" in err and "--timing-allow CIDR" in err
    assert "Any computer on this network" in log  # and in the log
    err, log = said["allow"]
    assert "Any computer" not in err and "Any computer" not in log
