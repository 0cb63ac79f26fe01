"""A full-speed timing stream leaves the event loop to everything else (issue #13: no long
stalls while ingesting): a connection's bytes are handed to the parser at most ``READ_SIZE`` at a
time, and the ingest pipeline sizes its batches so deriving and publishing one takes about
``DERIVE_BUDGET`` of the loop, however many sessions decide each read.

Real server in process, real CTP01 client on a real socket, 20 real display sessions bound.
"""

from __future__ import annotations

from typing import Any

import pytest

from race_control.app import RaceControl
from race_control.timing.ingest import pipeline as ingest_pipeline
from race_control.timing.ingest.pipeline import MAX_BATCH, MIN_BATCH
from race_control.timing.transports import ctp01_listener
from race_control.timing.transports.stream_connection import READ_SIZE
from tests.conftest import Api
from tests.display.test_resume import setup_session
from tests.helpers.waiting import until

pytestmark = pytest.mark.slow


def lines(first: int, last: int) -> bytes:
    """Reads seq first..last, a tenth of a second apart from 09:00, bibs 1..50 (the roster)."""
    out = []
    for i in range(first, last + 1):
        cs = 9 * 360_000 + i * 10
        clock = f"{cs // 360_000:02d}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"
        out.append(f"CT01_33~{i}~finish~{i % 50 + 1}~{clock}~0~0FA22E~1\r\n")
    return "".join(out).encode()


async def test_a_burst_reaches_the_parser_a_read_buffer_at_a_time(
    rc: RaceControl, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed: list[int] = []  # the bytes each data_received was given (the real one runs)
    real = ctp01_listener.Ctp01Connection.data_received

    def data_received(self: Any, data: bytes) -> None:
        handed.append(len(data))
        real(self, data)

    monkeypatch.setattr(ctp01_listener.Ctp01Connection, "data_received", data_received)
    _, client = await setup_session(api, rc.timing_port)
    burst = lines(1, 3000)  # ~150 KiB in one write: asyncio alone would hand it over in one go
    await client.send(burst)
    assert rc.services is not None
    pipeline = rc.services.pipeline
    await until(lambda: pipeline.committed_reads >= 3000, "3,000 reads stored", timeout=20)
    assert pipeline.committed_reads == 3000
    await client.close()
    assert max(handed) <= READ_SIZE
    assert sum(handed) >= len(burst)


async def test_batches_shrink_to_what_many_sessions_decide_in_the_budget(rc: RaceControl, api: Api) -> None:
    session, client = await setup_session(api, rc.timing_port)
    streams = await api.ok("GET", "/api/timing/sessions")
    for _ in range(19):  # 20 sessions in all, each deciding every read
        s = await api.ok("POST", "/api/sessions", {"event_id": session["event_id"], "mode": "results"}, 201)
        await api.ok("POST", f"/api/sessions/{s['id']}/timing", {"timing_session_id": streams[0]["id"]})
    assert rc.services is not None
    pipeline = rc.services.pipeline
    sizes: list[int] = []
    pipeline.add_listener(lambda reads: sizes.append(len(reads)))
    total = 8000  # more than MAX_BATCH queue up while the first batches are decided
    await client.send(lines(1, total))
    await until(lambda: pipeline.committed_reads >= total, f"{total:,} reads stored", timeout=60)
    await client.close()
    assert pipeline.committed_reads == total and sum(sizes) == total
    assert sizes[0] <= MIN_BATCH  # the first batch learns the pace
    # 20 sessions deciding 5,000 reads take far longer than the budget on any machine: without
    # the pacing the queue is taken MAX_BATCH at a time
    assert max(sizes) < MAX_BATCH, sizes


def test_the_pace_fits_the_budget_within_its_bounds() -> None:
    p = ingest_pipeline.IngestPipeline.__new__(ingest_pipeline.IngestPipeline)
    p._pace(1000, ingest_pipeline.DERIVE_BUDGET * 1000 / 300)  # 300 reads fit in the budget
    assert p._take in (299, 300)
    p._pace(1000, 0.0001)
    assert p._take == MAX_BATCH
    p._pace(100, 10.0)
    assert p._take == MIN_BATCH
    p._pace(MIN_BATCH - 1, 0.0)  # too few reads to tell: the pace stays
    assert p._take == MIN_BATCH
