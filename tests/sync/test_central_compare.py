"""tests/helpers/central_compare.py sees every kind of difference (so "central == local" in the
fault tests means it): after a clean sync, one change at a time made centrally as superuser."""

from __future__ import annotations

import math
import random
from pathlib import Path

import psycopg2

from tests.helpers.central_compare import differences
from tests.sync import fault_scene
from tests.sync.fault_rig import rig, synced

# (what is changed, SQL run on the central database with the partner id as %(p)s, undo SQL)
BREAKS = [
    (
        "a float one ulp off",
        "UPDATE timing_reads SET clock = %(up)s WHERE partner_id = %(p)s AND seq = 1 AND location = 'finish'",
    ),
    (
        "a read missing",
        "DELETE FROM timing_reads WHERE partner_id = %(p)s AND seq = 2 AND location = 'finish'",
    ),
    (
        "a read twice under another key",
        "INSERT INTO timing_reads SELECT partner_id, stream_id, location, seq + 100000, kind, tag, bib, "
        "time_text, clock, lap, reader_id, gator, raw_n, received_at FROM timing_reads "
        "WHERE partner_id = %(p)s AND seq = 3 AND location = 'finish'",
    ),
    (
        "JSON changed",
        'UPDATE display_events SET payload = payload || \'{"bib": "x"}\' WHERE partner_id = %(p)s AND seq = 1',
    ),
    (
        "a live row tombstoned",
        "UPDATE participants SET deleted = true WHERE partner_id = %(p)s AND bib = '1'",
    ),
]


async def test_every_kind_of_difference_is_seen(tmp_path: Path, central_db: str) -> None:
    async with rig(tmp_path, central_db, "Compare") as r:
        race = await fault_scene.build(r.api, r.rc.timing_port, random.Random(5), name="compare")
        r.closing.append(race.close)
        await race.feed(60)
        await race.close()
        await fault_scene.settled(r.api, race.sent)
        r.start_worker(r.partner_url)
        await synced(r)
        await r.rc.stop()  # nothing changes locally from here on
        pg = psycopg2.connect(central_db)
        pg.autocommit = True
        try:
            for what, statement in BREAKS:
                words = statement.split()
                table = (
                    words[1] if words[0] == "UPDATE" else words[2]
                )  # UPDATE t / DELETE FROM t / INSERT INTO t
                with pg.cursor() as cur:
                    cur.execute(
                        "SELECT clock FROM timing_reads WHERE partner_id = %s AND seq = 1 AND location = 'finish'",
                        (r.partner_id,),
                    )
                    (clock,) = cur.fetchone()
                    cur.execute(
                        f"CREATE TEMP TABLE snap AS SELECT * FROM {table} WHERE partner_id = %s",
                        (r.partner_id,),
                    )
                    cur.execute(statement, {"p": r.partner_id, "up": math.nextafter(clock, math.inf)})
                    assert cur.rowcount == 1, what
                    _counts, problems = differences(r.db_path, central_db, r.partner_id)
                    assert problems, f"{what}: not seen"
                    cur.execute(f"DELETE FROM {table} WHERE partner_id = %s", (r.partner_id,))
                    cur.execute(f"INSERT INTO {table} SELECT * FROM snap")
                    cur.execute("DROP TABLE snap")
                assert differences(r.db_path, central_db, r.partner_id)[1] == [], f"{what}: undone"
        finally:
            pg.close()
