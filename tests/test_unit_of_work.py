"""UnitOfWork effects done in slices (an effect that returns an awaitable, issue #13)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import Connection, text

from race_control.store.database import Store
from race_control.store.unit_of_work import UnitOfWork


def create(conn: Connection) -> None:
    conn.execute(text("CREATE TABLE t (n INTEGER)"))


async def test_a_sliced_effect_is_awaited_in_order_and_a_cancelled_one_lets_the_rest_apply(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "store.db")
    try:
        await store.run(create)
        applied: list[str] = []
        started = asyncio.Event()

        async def in_slices() -> None:
            for i in range(3):
                applied.append(f"slice {i}")
                started.set()
                await asyncio.sleep(0.01)

        uow = UnitOfWork(store)
        uow.write(lambda conn: conn.execute(text("INSERT INTO t VALUES (1)")))
        uow.after_commit(lambda: applied.append("first"))
        uow.after_commit(in_slices)
        uow.after_commit(lambda: applied.append("last"))
        await uow.commit()
        # commit returned after the sliced effect ended, the effects in their order
        assert applied == ["first", "slice 0", "slice 1", "slice 2", "last"]

        applied.clear()
        started.clear()
        uow = UnitOfWork(store)
        uow.write(lambda conn: conn.execute(text("INSERT INTO t VALUES (2)")))
        uow.after_commit(in_slices)
        uow.after_commit(lambda: applied.append("last"))
        task = asyncio.create_task(uow.commit())
        await started.wait()
        task.cancel()  # committed already: what comes after still applies, then it is cancelled
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:
            raise AssertionError("the cancellation was swallowed")
        assert applied == ["slice 0", "last"]
        assert await store.run(
            lambda conn: conn.execute(text("SELECT n FROM t ORDER BY n")).scalars().all()
        ) == [
            1,
            2,
        ]
    finally:
        store.close()


def test_record_all_makes_the_changes_record_makes() -> None:
    one, many = UnitOfWork(None), UnitOfWork(None)  # type: ignore[arg-type]  (nothing is written)
    items = [("p1", "created", {"bib": "1"}), ("p2", "updated", {"bib": "2", "event_id": "e"})]
    for pid, action, data in items:
        one.record("participant", pid, action, **data)
    many.record_all("participant", iter(items))
    assert many.changes == one.changes and [repr(c) for c in many.changes] == [repr(c) for c in one.changes]
    assert [c.data for c in many.changes] == [d for _, _, d in items]
