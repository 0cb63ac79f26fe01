"""The participants table has two indexes: its id and the unique (event_id, bib).

Migration 0016 dropped the separate index on event_id; a lookup by event alone must still be an
index search (the unique index's first column), never a scan of every event's runners.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from race_control.store.database import Store


def test_lookups_by_event_use_the_unique_event_bib_index(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    store.migrate()
    with store.engine.connect() as conn:
        names = {
            r[0]
            for r in conn.execute(
                text("select name from sqlite_master where type = 'index' and tbl_name = 'participants'")
            )
        }
        assert "ix_participants_event_id" not in names
        index = conn.execute(
            text(
                "select il.name from pragma_index_list('participants') il "
                "where il.\"unique\" and (select group_concat(name) from pragma_index_info(il.name)) = 'event_id,bib'"
            )
        ).scalar_one()
        for sql in (
            "select id, bib from participants where event_id = 'e1'",
            "select count(*) from participants where event_id = 'e1'",
            "delete from participants where event_id = 'e1'",
        ):
            plan = " | ".join(str(r[-1]) for r in conn.execute(text("explain query plan " + sql)))
            assert f"USING INDEX {index} (event_id=?)" in plan or (
                f"USING COVERING INDEX {index} (event_id=?)" in plan
            ), (sql, plan)
    store.engine.dispose()
