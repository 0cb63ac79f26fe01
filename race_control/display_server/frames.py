"""One WebSocket text frame, built once per message and written as is to every screen.

A server's frames are unmasked (RFC 6455 section 5.1), so the bytes of one message's frame are
the same for every uncompressed screen: the hub builds them once (``text_frame``) and hands
them to each screen's transport (``direct_transport``) instead of framing per screen through
``WebSocketResponse.send_str``.  Why writing next to aiohttp's own writer is safe is in
docs/developer-notes.md ("Fan-out: one frame for every screen").
"""

from __future__ import annotations

import asyncio
import struct

from aiohttp import web

FIN_TEXT = 0x81  # FIN bit + opcode 1 (text); RSV bits clear: no extension applies
_LEN2 = struct.Struct("!BBH").pack
_LEN8 = struct.Struct("!BBQ").pack


def text_frame(text: str) -> bytes:
    """A complete, unfragmented, unmasked text frame carrying ``text`` (UTF-8)."""
    payload = text.encode("utf-8")
    n = len(payload)
    if n < 126:
        return bytes((FIN_TEXT, n)) + payload
    if n < 65536:
        return _LEN2(FIN_TEXT, 126, n) + payload
    return _LEN8(FIN_TEXT, 127, n) + payload


def direct_transport(ws: web.WebSocketResponse, request: web.Request) -> asyncio.Transport | None:
    """The transport a prepared server socket's frames may be written to directly, or None
    when every frame must go through aiohttp (permessage-deflate: each screen has its own
    compressor state, so its frames differ from every other screen's)."""
    if ws.compress:
        return None
    transport = request.transport
    if not isinstance(transport, asyncio.Transport) or transport.is_closing():
        return None
    return transport
