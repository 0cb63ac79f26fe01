"""Sans-IO: what the replay client counts as delivered is only what the server confirmed.

A line queued (even written) is not delivered.  An ``ack~ping`` confirms exactly what was sent
before that ping (answers come in order, one per ping); ``start~<loc>~<seq>`` and
``getdata~N~<loc>~<seq>`` are the server's own word for what it holds.
"""

from __future__ import annotations

from race_control.timing.protocols.ctp01_client import Ctp01Client
from race_control.timing.protocols.ctp01_observations import ObservationLog
from race_control.timing.protocols.events import PingAnswered


def wire(*lines: str) -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode()


def ready_client(log: ObservationLog, mode: str = "push") -> Ctp01Client:
    client = Ctp01Client(connection_id="c1", log=log)
    client.initiate()
    client.receive_data(wire("Srv~1.0~2", f"stream-mode={mode}", "newlocations=false"), 0.0)
    client.data_to_send()
    return client


def lines(client: Ctp01Client) -> list[str]:
    return client.data_to_send().decode().split("\r\n")[:-1]


def test_only_an_answered_ping_confirms_and_only_what_went_before_it() -> None:
    client = ready_client(ObservationLog())
    for n in range(3):
        client.add_observation("finish", str(100 + n), "10:00:00.00")
    client.receive_data(wire("start~finish"), 1.0)
    assert len(lines(client)) == 3  # sent (queued for the socket) ...
    assert client.confirmed == {"finish": 0}  # ... but nothing confirmed: start asked from 1
    client.send_ping(2.0)
    client.add_observation("finish", "103", "10:00:01.00")  # after the ping: not covered by it
    client.send_ping(3.0)
    assert lines(client)[-1] == "ping" and client.pings_outstanding == 2
    events = client.receive_data(wire("ack~ping"), 4.0)  # the first ping's answer
    assert PingAnswered(2.0) in events
    assert client.confirmed == {"finish": 3}
    client.receive_data(wire("ack~ping"), 5.0)
    assert client.confirmed == {"finish": 4} and client.pings_outstanding == 0
    client.receive_data(wire("ack~ping"), 6.0)  # an answer to no ping confirms nothing more
    assert client.confirmed == {"finish": 4}


def test_the_server_resume_point_is_its_word_and_replaces_what_was_confirmed() -> None:
    log = ObservationLog()
    for n in range(10):
        log.add("finish", str(100 + n), "10:00:00.00")
    first = ready_client(log)
    first.receive_data(wire("start~finish"), 1.0)
    first.send_ping(1.0)
    first.receive_data(wire("ack~ping"), 1.5)
    assert first.confirmed == {"finish": 10}
    # a new connection to a server that lost reads: it asks again from 4, so it holds 1..3 only
    second = ready_client(log)
    second.receive_data(wire("start~finish~4"), 2.0)
    assert second.confirmed == {"finish": 3}
    assert [line.split("~")[1] for line in lines(second)] == [str(s) for s in range(4, 11)]


def test_pull_mode_getdata_sequence_is_the_servers_word() -> None:
    log = ObservationLog()
    for n in range(5):
        log.add("finish", str(100 + n), "10:00:00.00")
    client = ready_client(log, mode="pull")
    client.receive_data(wire("getdata~2~finish~3"), 1.0)
    assert client.confirmed == {"finish": 2}
    assert client.sent_through("finish") == 4
    client.send_ping(1.0)
    client.receive_data(wire("ack~ping"), 1.2)
    assert client.confirmed == {"finish": 4}
