"""The asyncio loop of the desktop app: qasync's QEventLoop, with one quirk mended.

qasync's ``run_until_complete`` lets Qt process its events once more after ``run_forever`` has
returned, and by then it has already unset the running loop.  A coroutine step due in that last
pass (a task woken by a read that just arrived, say) runs with no running loop, and the first
``asyncio.Event`` or ``Lock`` it awaits fails "bound to a different event loop".  ``EventLoop``
keeps itself the running loop until ``run_until_complete`` has returned.
"""

from __future__ import annotations

import asyncio
from typing import Any

import qasync


class EventLoop(qasync.QEventLoop):  # type: ignore[misc]
    _finishing = False

    def run_forever(self) -> Any:
        try:
            return super().run_forever()
        finally:
            if self._finishing:  # run_until_complete's last processEvents comes next
                asyncio.events._set_running_loop(self)

    def run_until_complete(self, future: Any) -> Any:
        self._finishing = True
        try:
            return super().run_until_complete(future)
        finally:
            self._finishing = False
            asyncio.events._set_running_loop(None)
