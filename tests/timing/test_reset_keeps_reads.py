"""A connection reset never loses a line the server has read (real server, real socket, real SQLite).

The client sends its identification, reads and a ``ping`` in one packet, followed by half a line;
the server's ``ack~ping`` proves it has read all of it.  Then the client resets the connection
(RST, not FIN) while the server is still attaching the stream (its database is held locked from
another connection until the reset has been seen), so everything read waits in the connection's
queue when the connection is lost.  Every complete read is stored; the cut-off line is kept as a
raw line and counted as a bad line, but never parsed into a read.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
import struct

from race_control.app import RaceControl
from tests.conftest import Api
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.live_app import drain_until

READS = 500
PARTIAL = "CT01_33~501~finish~9501~10:08:2"


class Seen(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def data_line(seq: int) -> str:
    return f"CT01_33~{seq}~finish~{9000 + seq}~10:00:{seq % 60:02d}.00~1~R1~1"


async def test_lines_read_before_a_reset_are_all_stored_and_a_cut_off_line_is_not_parsed(
    rc: RaceControl, api: Api
) -> None:
    assert rc.services is not None
    handler = Seen()
    seen = handler.messages
    server_log = logging.getLogger("race_control.timing.protocols.ctp01_server")
    server_log.addHandler(handler)
    old_level = server_log.level
    server_log.setLevel(logging.INFO)
    lock = sqlite3.connect(rc.settings.database_path, timeout=10, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # attaching the stream waits (the store retries for 5 s)
    try:
        client = await RawCtp01Client.connect(rc.timing_port)
        await client.send(b"SimpleClient~1.2.3~CTP01\r\n")
        count = int((await client.line()).split("~")[2])
        for _ in range(count + 3):  # the settings, then geteventinfo / getlocations / getconnectionid
            await client.line()
        packet = "".join(
            f"{line}\r\n"
            for line in (
                "ack~geteventinfo~Reset~1~",
                "ack~getlocations~finish",
                "ack~getconnectionid~reset-test",
                *(data_line(seq) for seq in range(1, READS + 1)),
                "ping",
            )
        )
        await client.send(packet.encode() + PARTIAL.encode())
        await client.until("ack~ping")  # the server has read every line before the ping
        sock = client.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
        client.writer.transport.abort()
        async with asyncio.timeout(10):
            while not any("disconnected" in m for m in seen):
                await asyncio.sleep(0.01)
    finally:
        lock.rollback()
        lock.close()
        server_log.removeHandler(handler)
        server_log.setLevel(old_level)

    streams = await drain_until(
        rc,
        lambda: api.ok("GET", "/api/timing/sessions"),
        lambda s: bool(s) and s[0]["reads"] == READS and not s[0]["connected"],
    )
    (stream,) = streams
    assert stream["reads"] == READS
    assert stream["cursors"] == {"finish": READS}
    assert stream["bad_lines"] >= 1
    await rc.services.timing.flush()
    with sqlite3.connect(rc.settings.database_path) as conn:
        seqs = [
            r[0]
            for r in conn.execute("SELECT seq FROM reads WHERE stream_id = ? ORDER BY seq", (stream["id"],))
        ]
        raw = [r[0] for r in conn.execute("SELECT line FROM raw_lines WHERE stream_id = ?", (stream["id"],))]
    assert seqs == list(range(1, READS + 1))  # the cut-off read 501 was not made up
    assert PARTIAL in raw  # but what arrived of it is kept
