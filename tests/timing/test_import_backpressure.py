"""A large controller-file import streams through the bounded pipeline (``POST /api/timing/import``).

The import feeds the pipeline in chunks and waits while the backlog is above the limit the
timing sockets obey, so a 200,000-read file is never queued at once: a sampler on the same
loop watches the pipeline's public ``backlog`` throughout the import.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from race_control.app import RaceControl
from race_control.timing.ingest.backpressure import PAUSE_ABOVE
from race_control.timing.ingest.controller_import import FEED_CHUNK
from tests.conftest import Api

pytestmark = pytest.mark.slow

READS = 200_000
EPOCH = 1_620_460_800  # 2021-05-08 08:00:00 as the controllers write it


def write_controller_file(folder: Path, reads: int) -> Path:
    folder.mkdir(parents=True)
    rows = (
        f"TO~{n}~{1000 + n % 5000}~160~18~{EPOCH + n / 100:.2f}~12000C~1~-60~{n // 5000 + 1}~P~10\r\n"
        for n in range(1, reads + 1)
    )
    (folder / "1.csv").write_text("".join(rows))
    return folder


async def test_a_200k_read_import_keeps_the_pipeline_backlog_bounded(
    rc: RaceControl, api: Api, tmp_path: Path
) -> None:
    folder = write_controller_file(tmp_path / "MAT", READS)
    assert rc.services is not None
    pipeline = rc.services.pipeline
    samples: list[int] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            samples.append(pipeline.backlog)
            await asyncio.sleep(0)

    sampler = asyncio.create_task(sample())
    try:
        result = await api.ok(
            "POST", "/api/timing/import", {"path": str(folder), "timezone": "UTC"}, status=201
        )
    finally:
        done.set()
        await sampler
    assert result["reads"] == READS
    # every read and its raw line count in the backlog: at most the limit plus one chunk of both
    assert max(samples) <= PAUSE_ABOVE + 2 * FEED_CHUNK, max(samples)
    assert max(samples) > PAUSE_ABOVE // 2  # it did fill up: the file is four times the limit
    await pipeline.drain()
    (stream,) = await api.ok("GET", "/api/timing/sessions")
    assert stream["reads"] == READS
    with sqlite3.connect(rc.settings.database_path) as conn:
        assert conn.execute("SELECT count(*) FROM reads").fetchone()[0] == READS
