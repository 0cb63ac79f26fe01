"""The desktop's loop (race_control/ui/event_loop.py): a coroutine step that qasync runs in its
last pass of Qt events, after run_until_complete's future is done, still sees its loop running
(with qasync's own loop it sees none, and the next asyncio.Event it awaits fails "bound to a
different event loop", as the ingest pipeline's did at a desktop test's teardown)."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtWidgets import QApplication

from race_control.ui.event_loop import EventLoop

pytestmark = pytest.mark.gui


def test_a_step_due_as_run_until_complete_ends_runs_on_the_loop() -> None:
    app = QApplication.instance() or QApplication([])
    loop = EventLoop(app)
    seen: list[object] = []
    woken = asyncio.Event()

    async def waiter() -> None:
        await woken.wait()
        seen.append(asyncio.events._get_running_loop())
        woken.clear()
        await woken.wait()
        seen.append(asyncio.events._get_running_loop())
        woken.clear()
        await woken.wait()  # needs a running loop to make its future

    async def main() -> asyncio.Task[None]:
        task = asyncio.ensure_future(waiter())
        await asyncio.sleep(0)
        woken.set()
        await asyncio.sleep(0.01)
        me = asyncio.current_task()
        assert me is not None  # runs after run_until_complete's own stop callback: in qasync's last pass
        me.add_done_callback(lambda _: woken.set())
        return task

    try:
        task = loop.run_until_complete(main())
        assert seen == [loop, loop] and not task.done(), (seen, task)
        assert asyncio.events._get_running_loop() is None  # unset once run_until_complete returns
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            loop.run_until_complete(task)
    finally:
        loop.close()
