"""A clean stop keeps the streams' derived state for the next start-up (``streams_kept``); that
start-up uses it only for the very file closed, and then knows exactly what a start-up deriving
it from the reads knows: the same cursors and counts, the same seqs, the same content keys (a
resend still dropped silently, another read under a stored seq still a conflict).  A record
that is damaged, of other streams, or next to a file changed since, is not used: start-up
derives everything from the reads, the reason logged.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from race_control.app import RaceControl
from race_control.store.clean_close import closed_cleanly, mark_closed
from race_control.timing.ingest.streams_kept import Derived, KeptUnusable, decode, encode
from tests.conftest import make_settings
from tests.display.test_resume import lines
from tests.helpers.live_app import running
from tests.helpers.waiting import until
from tests.test_startup_checks import DB_NAME
from tests.timing.test_stream_state import live_stream

USED = "kept by the last clean stop are used"
UNUSABLE = "kept by the last clean stop is unusable"
OTHERS = "kept by the last clean stop is of other streams"


def streams_of(rc: RaceControl) -> dict[str, Any]:
    """Every stream as the API shows it, with each tracker's seqs and content keys."""
    assert rc.services is not None
    out = {}
    for s in rc.services.timing.streams():
        trackers = {}
        for loc, t in s.trackers.items():
            low, run, above = t.parts()
            trackers[loc] = (low, list(run), dict(above), t.cursor)
        out[s.id] = {**s.to_json(), "connected": None, "trackers": trackers}
    return out


async def stopped_with_reads(data: Path, conn_id: str = "kept-conn") -> dict[str, Any]:
    """A live stream with reads 1-4 and 7-8 (a gap), a gun, a bad line, stopped cleanly."""
    async with running(make_settings(data)) as (rc, _api):
        assert rc.services is not None
        client, state = await live_stream(rc, conn_id)
        await client.send(lines(1, 4) + lines(7, 8))
        await client.send(b"CT01_33~9~finish~guntime~09:00:10.00~0~0FA22E~0\r\nCT01_33~x~finish\r\n")
        await until(lambda: state.reads == 6 and state.bad_lines == 1, what="the reads")
        await client.close()
        await until(lambda: state.connections == 0, what="disconnected")
        await rc.services.pipeline.drain()
        await rc.services.timing.flush()
        return streams_of(rc)


def kept_of(data: Path) -> bytes:
    record = json.loads((data / (DB_NAME + ".closed")).read_text())
    return base64.b64decode(record["kept"])


def keep_instead(data: Path, kept: bytes) -> None:
    """The clean-close record with ``kept`` in place of what the stop kept (the file unchanged)."""
    mark = data / (DB_NAME + ".closed")
    record = json.loads(mark.read_text())
    record["kept"] = base64.b64encode(kept).decode()
    mark.write_text(json.dumps(record))


async def test_a_clean_restart_knows_what_a_restart_from_the_reads_knows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    before = await stopped_with_reads(data)
    caplog.set_level(logging.INFO, logger="race_control.timing")
    async with running(make_settings(data)) as (rc, _api):
        assert USED in caplog.text
        kept = streams_of(rc)
    (data / (DB_NAME + ".closed")).unlink()  # as a kill -9 leaves it: derived from the reads
    caplog.clear()
    async with running(make_settings(data)) as (rc, _api):
        assert USED not in caplog.text
        derived = streams_of(rc)
    assert kept == derived == before
    (stream,) = kept.values()
    assert stream["cursors"] == {"finish": 4} and stream["trackers"]["finish"][0] == 4  # 7-9 above the gap


async def test_after_a_clean_restart_a_resend_is_dropped_and_another_read_is_a_conflict(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    await stopped_with_reads(data)
    caplog.set_level(logging.INFO, logger="race_control.timing")
    async with running(make_settings(data)) as (rc, _api):
        assert rc.services is not None and USED in caplog.text
        client, state = await live_stream(rc, "kept-conn")
        # seq 2 and 7 again as they were (a reconnect's resend), seq 3 and 8 with another tag
        resent = lines(2, 2) + lines(7, 7)
        other = (
            b"CT01_33~3~finish~99~09:00:03.00~0~0FA22E~1\r\nCT01_33~8~finish~98~09:00:08.00~0~0FA22E~1\r\n"
        )
        await client.send(resent + other + lines(5, 6))
        await until(lambda: state.reads == 8, what="reads 5 and 6")
        await until(lambda: state.conflicts == 2, what="two conflicts")
        await client.close()
        await rc.services.timing.flush()
        assert state.cursors() == {"finish": 9}
    async with running(make_settings(data)) as (rc, _api):
        assert rc.services is not None
        (again,) = rc.services.timing.streams()
        assert again.conflicts == 2 and again.reads == 8  # the resends were not conflicts


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-3],  # truncated
        lambda b: b[:-1] + bytes([b[-1] ^ 1]),  # a key changed
        lambda b: b"PK\x03\x04" + b[4:],  # another format
        lambda b: b"",
    ],
    ids=["truncated", "a-key-changed", "another-format", "empty"],
)
async def test_a_damaged_record_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Any
) -> None:
    data = tmp_path / "data"
    before = await stopped_with_reads(data)
    keep_instead(data, damage(kept_of(data)))
    await started_without_it(data, caplog, UNUSABLE, before)


async def test_a_record_of_other_streams_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    before = await stopped_with_reads(ours)
    await stopped_with_reads(theirs, "their-conn")
    keep_instead(ours, kept_of(theirs))  # another data dir's record, valid in itself
    await started_without_it(ours, caplog, OTHERS, before)


async def started_without_it(data: Path, caplog: pytest.LogCaptureFixture, why: str, before: Any) -> None:
    """Start on ``data``: the kept record is not used (``why`` logged), the streams derived again
    from the reads are ``before``."""
    caplog.set_level(logging.INFO, logger="race_control.timing")
    async with running(make_settings(data)) as (rc, _api):
        assert why in caplog.text and USED not in caplog.text
        assert streams_of(rc) == before


async def test_a_file_changed_after_the_clean_stop_is_derived_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    before = await stopped_with_reads(data)
    db = data / DB_NAME
    copy = tmp_path / "copy.sqlite3"
    shutil.copy2(db, copy)
    os.replace(copy, db)  # a restore of the same bytes: another inode, so not the file closed
    caplog.set_level(logging.INFO, logger="race_control.timing")
    async with running(make_settings(data)) as (rc, _api):
        assert USED not in caplog.text
        assert streams_of(rc) == before


def test_the_kept_state_comes_back_only_with_the_very_file_closed(tmp_path: Path) -> None:
    db = tmp_path / DB_NAME
    db.write_bytes(b"x" * 4096)
    mark_closed(db, b"kept \x00 bytes")
    clean = closed_cleanly(db)
    assert clean is not None and clean.kept == b"kept \x00 bytes"
    mark_closed(db, b"kept")
    os.utime(db, ns=(1, 1))
    assert closed_cleanly(db) is None


def test_encode_decode_round_trip_and_refusals() -> None:
    from race_control.timing.ingest.stored_read import SeqTracker, content_key

    t = SeqTracker()
    for seq in (1, 2, 3, 10, 11, 0):
        t.add(seq, content_key("tag", str(seq), "09:00:00.00", 0, "r", 1))
    blob = encode({"s1": Derived(5, 12.5, {"finish": t}), "s2": Derived()})
    back = decode(blob)
    assert back["s1"].reads == 5 and back["s1"].last_read_at == 12.5 and back["s2"].trackers == {}
    assert back["s1"].trackers["finish"].parts() == t.parts() and back["s1"].trackers["finish"].cursor == 3
    for bad in (blob[:20], blob + b"\x00" * 8, blob.replace(b'"reads": 5', b'"reads": "5"')):
        with pytest.raises(KeptUnusable):
            decode(bad)


def test_content_keys_are_the_same_in_every_process() -> None:
    # kept by one process, compared by the next: ``hash`` of strings differs between processes
    from race_control.timing.ingest.stored_read import content_key

    fields = ("tag", "1234", "09:00:01.00", 0, "0FA22E", 1)
    code = f"from race_control.timing.ingest.stored_read import content_key; print(content_key(*{fields!r}))"
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert int(out.stdout) == content_key(*fields)
    assert content_key(*fields) != content_key("tag", "1234", "09:00:01.01", 0, "0FA22E", 1)
