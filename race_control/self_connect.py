"""A TCP connection to a local port nobody listens on can end up connected to itself.

On Linux, connecting to 127.0.0.1:P while nothing listens on P, with P in the ephemeral port
range, now and then picks P as its own local port too: the SYN meets itself (TCP's
simultaneous open) and the connect succeeds, to nobody.  A client that keeps reconnecting to a
server that was killed (the simulator, a RACE RESULT decoder on the same machine) then holds
the server's port, and the restarted server cannot listen on it ("address already in use").
A client that finds itself connected to itself closes at once, with a reset (a plain close
would leave the port in TIME_WAIT for a minute, which blocks a listener too), and counts it as a
failed attempt.
"""

from __future__ import annotations

import errno
import socket
import struct
from typing import Any

from race_control.errors import RaceControlError

__all__ = ["SelfConnected", "check_not_self_connected"]


class SelfConnected(RaceControlError, OSError):
    """The connection's two ends are the same address: nothing listens there (as refused; an
    ``OSError``, so callers that retry a refused connection retry this one too)."""

    retryable = True


def check_not_self_connected(transport: Any, host: str, port: int) -> None:
    """Raise ``SelfConnected`` (after closing ``transport``: an asyncio transport or a
    ``StreamWriter``) if its local and remote addresses are the same."""
    local, peer = transport.get_extra_info("sockname"), transport.get_extra_info("peername")
    if local is not None and local == peer:
        sock = transport.get_extra_info("socket")
        if sock is not None:  # close with a reset: no TIME_WAIT left holding the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.close()
        raise SelfConnected(
            errno.ECONNREFUSED, f"nothing listens on {host}:{port} (the connection reached itself)"
        )
