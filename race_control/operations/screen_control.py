"""What an operation may ask of the connected screens (the display server's hub does it).

Operations sit below the display server, so they see the hub only through this
protocol; ``app.py`` plugs the real hub in.
"""

from __future__ import annotations

from typing import Any, Protocol


class ScreenControl(Protocol):
    def send_control(self, session_id: str, message: dict[str, Any], screen_id: str | None = None) -> int:
        """Send an unsequenced control message to one screen or all screens of a session;
        returns how many screens got it."""
        ...

    async def close_session(self, session_id: str) -> None:
        """Disconnect every screen of a closed session (their page shows that it ended)."""
        ...


class NoScreens:
    """Until the display server is up (and in tools that run without one)."""

    def send_control(self, session_id: str, message: dict[str, Any], screen_id: str | None = None) -> int:
        return 0

    async def close_session(self, session_id: str) -> None:
        return None
