"""The WebSocket hub: every screen of a session gets every finisher once, in seq order.

Each message is encoded and framed once (``frames.text_frame``).  A screen that is
keeping up (nothing queued, not catching up, its transport's buffer below the high-water
mark) gets those frame bytes written straight to its transport; otherwise the message goes
into the screen's bounded queue, drained by its own sender task.  So a slow screen never
slows the others or the timing path (``publish`` never waits).  When a
screen's queue overflows, or the screen asks to ``resume``, it switches to
catch-up: replay from the store (seq > last sent), then drain what arrived
meanwhile, then ``caught_up``.  Dedupe by seq makes every path exactly-once.
Runs entirely on the loop.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import json
import logging
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from aiohttp import WSMsgType, web

from race_control.alerts import AlertBoard
from race_control.display_server.frames import direct_transport, text_frame
from race_control.ids import new_id
from race_control.latency import latency_summary
from race_control.logging_setup import safe
from race_control.store.json_text import dumps_compact
from race_control.timing.transports.caps import CapReporter

log = logging.getLogger("race_control.display.hub")
QUEUE_LIMIT = 2000
# messages per session kept encoded in memory for catch-up: twice a screen's queue, so a screen
# whose queue overflowed (QUEUE_LIMIT behind) catches up from memory; older history comes from
# the store, a page at a time (was 10,000: ~45 MiB for 20 sessions, issue #13)
RECENT = 2 * QUEUE_LIMIT
PAGE = 500  # messages per page when catching up from the store
PAGE_WRITE = 32 * 1024  # bytes of catch-up frames written with one send() (``_send_page``)
DRAIN_POLL = 0.005  # seconds between looks at a catching-up screen's full transport buffer
SEND_BUFFER = 64 * 1024
RESUME_GRACE = 0.5  # seconds a new socket may take to send `resume` before it is started from hello
HEARTBEAT = 2.0
LOST_AFTER = 30.0  # seconds a dropped screen has to come back before it is an alert (`screen_lost`)
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000)  # /api/metrics histogram
MAX_SCREEN_MESSAGE = 4096  # characters; a screen's resume/pong/rendered message is ~200
# caps (Settings.max_screens_per_*, max_store_catchups, resume_interval; docs/operations.md#limits)
MAX_SCREENS_PER_SESSION = 500
MAX_SCREENS_PER_ADDRESS = 50
MAX_STORE_CATCHUPS = 8  # catch-up pages read from the store at once (all screens together)
RESUME_INTERVAL = 2.0  # seconds: a screen's next store catch-up waits at least this long
TOO_MANY_SCREENS = 4429  # WebSocket close code for a screen over a cap (the page says so)
Backlog = Callable[[str, int, int], Awaitable[list[dict[str, Any]]]]  # (session, after_seq, limit)


_SEQ = itemgetter(0)


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@dataclass(eq=False)
class Screen:
    session_id: str
    ws: web.WebSocketResponse
    remote: str
    user_agent: str
    id: str = field(default_factory=new_id)
    screen_id: str = ""
    viewport: list[int] = field(default_factory=list)
    connected_at: float = field(default_factory=time.time)
    last_heartbeat: float = field(default_factory=time.time)
    last_sent: int = 0
    last_message_at: float = field(default_factory=time.time)  # when we last sent it anything
    last_rendered: int = 0
    rtt_ms: float | None = None
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=500))
    # every latency since connecting, per LATENCY_BUCKETS_MS bucket (the last: above them all)
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_MS) + 1))
    latency_sum: float = 0.0
    leaving: bool = False  # closed by us (session closed, shutdown): not a lost screen
    queue: asyncio.Queue[tuple[int, str] | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    resume_from: int | None = None
    awaiting_resume: bool = True  # live messages wait for the screen's `resume` (or RESUME_GRACE)
    answer_resume: bool = True  # send `caught_up` after a replay the screen asked for
    epoch: str = ""  # the session's epoch told in `hello`; a `resume` from another one may rewind
    rewind: int | None = None  # the replay starts before the screen's after_seq: say so first
    buffering: bool = False
    buffer: list[tuple[int, str]] = field(default_factory=list)
    last_store_catchup: float = float("-inf")  # monotonic time its last store catch-up began
    store_catchups: int = 0
    # where this screen's frames may be written directly (None: always through the queue)
    transport: asyncio.Transport | None = None
    high_water: int = SEND_BUFFER  # the transport's own high-water mark (flow control)
    direct_frames: int = 0  # messages written straight to the transport
    queued_frames: int = 0  # messages that went through the queue

    def deliver(self, seq: int, text: str, frame: bytes, now: float) -> None:
        """Write ``frame`` (``text`` framed) straight to the transport when nothing can be
        ahead of it: nothing queued (every dequeued message is written before the sender
        yields), not catching up or waiting for ``resume``, socket not closed (no frame after
        our close frame), buffer below the high-water mark (backpressure).  Else ``offer``."""
        t = self.transport
        if (
            t is None
            or self.buffering
            or self.resume_from is not None
            or not self.queue.empty()
            or self.ws.closed
            or t.is_closing()
            or t.get_write_buffer_size() >= self.high_water
        ):
            self.offer(seq, text)
            return
        if seq:
            if seq <= self.last_sent:
                return  # already sent (the sender would skip it too)
            self.last_sent = seq
        t.write(frame)
        self.direct_frames += 1
        self.last_message_at = now

    def offer(self, seq: int, text: str) -> None:
        if self.buffering:
            if len(self.buffer) < QUEUE_LIMIT * 5:
                self.buffer.append((seq, text))
            else:  # catching up fell too far behind: start over from what was sent
                self.buffer.clear()
                self.resume_from = self.last_sent
            return
        self.queued_frames += 1
        try:
            self.queue.put_nowait((seq, text))
        except asyncio.QueueFull:
            log.warning("screen %s fell %d messages behind; catching up from the store", self.id, QUEUE_LIMIT)
            while not self.queue.empty():
                self.queue.get_nowait()
            self.resume_from = self.last_sent
            self.queue.put_nowait(None)

    def add_latency(self, ms: float) -> None:
        self.latencies.append(ms)
        self.latency_sum += ms
        self.latency_counts[bisect.bisect_left(LATENCY_BUCKETS_MS, ms)] += 1

    @property
    def identity(self) -> str:
        """Who this screen is across reconnects: the page's stored screen id, else its address."""
        return self.screen_id or f"address {self.remote}"

    @property
    def alert_key(self) -> str:
        return hashlib.sha1(self.identity.encode()).hexdigest()[:16]  # URL-safe, no client text

    def latency_percentiles(self) -> dict[str, float | None]:
        return latency_summary(self.latencies, digits=1)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "screen_id": self.screen_id,
            "session_id": self.session_id,
            "address": self.remote,
            "user_agent": self.user_agent,
            "viewport": self.viewport,
            "connected_since": self.connected_at,
            "last_heartbeat": self.last_heartbeat,
            "last_seq_sent": self.last_sent,
            "last_seq_rendered": self.last_rendered,
            "rtt_ms": self.rtt_ms,
            "latency_ms": self.latency_percentiles(),
        }


def _still_open(screen: Screen, t: asyncio.Transport) -> None:
    """A catch-up writes only to a screen still there (no frame after aiohttp's close frame)."""
    if screen.ws.closed or t.is_closing():
        raise ConnectionResetError(f"screen {screen.id} went away while catching up")


class Hub:
    def __init__(
        self,
        backlog: Backlog,
        alerts: AlertBoard | None = None,
        session_name: Callable[[str], str] | None = None,
        resume_point: Callable[[str, str, int], int] | None = None,
    ) -> None:
        self._backlog = backlog
        # (session, the screen's epoch, its after_seq) -> the seq its replay can start after
        self._resume_point = resume_point or (lambda _sid, _epoch, after: after)
        # (session, message) -> what its screens may see: only the fields its template shows
        # (app.py: templates/screen_filter.py); every message is filtered where it is encoded
        self.payload_filter: Callable[[str, dict[str, Any]], dict[str, Any]] = lambda _sid, p: p
        self._alerts = alerts
        self._session_name = session_name or (lambda sid: sid)
        self.lost_after = LOST_AFTER
        self._gone: dict[str, asyncio.TimerHandle] = {}  # alert key -> the pending `screen_lost` check
        # told (screen, "connected" | "identified" | "left") on the loop, never per message: the
        # history's screens seen (display_server/screens_seen.py) keeps them after they leave
        self.screen_listeners: list[Callable[[Screen, str], None]] = []
        self._closing = False
        self._screens: dict[str, set[Screen]] = {}
        # session -> its last RECENT messages as (seq, json, read_at ms: for the latency)
        self._recent: dict[str, deque[tuple[int, str, int]]] = {}
        # session -> its running replay as last told (`replay` control message), repeated in the
        # hello of every screen that connects meanwhile (docs/display-protocol.md)
        self._replaying: dict[str, dict[str, Any]] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self.caps = CapReporter(alerts, log)
        self.set_limits()
        self.store_pages = 0  # catch-up pages read from the store
        self.store_catchups = 0  # catch-ups that needed the store
        self._store_reading = 0
        self.peak_store_reads = 0  # most catch-up pages read from the store at once

    def set_limits(
        self,
        *,
        per_session: int = MAX_SCREENS_PER_SESSION,
        per_address: int = MAX_SCREENS_PER_ADDRESS,
        store_catchups: int = MAX_STORE_CATCHUPS,
        resume_interval: float = RESUME_INTERVAL,
    ) -> None:
        """The caps (from Settings); call before any screen connects."""
        self.max_screens_per_session = per_session
        self.max_screens_per_address = per_address
        self.max_store_catchups = store_catchups
        self.resume_interval = resume_interval
        self._store_turns = asyncio.Semaphore(max(1, store_catchups))

    def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat(), name="display-heartbeat")

    async def close(self) -> None:
        self._closing = True
        for handle in self._gone.values():
            handle.cancel()
        self._gone.clear()
        if self._heartbeat:
            self._heartbeat.cancel()
        for screens in list(self._screens.values()):
            for s in list(screens):
                await s.ws.close(code=1001, message=b"server shutting down")

    async def close_session(self, session_id: str) -> None:
        """The session was closed: its screens are told and disconnected (their page shows 410)."""
        self._replaying.pop(session_id, None)
        for s in list(self._screens.get(session_id, ())):
            s.leaving = True
            await s.ws.close(code=4410, message=b"display session closed")

    def screens(self, session_id: str | None = None) -> list[Screen]:
        if session_id is not None:
            return list(self._screens.get(session_id, ()))
        return [s for group in self._screens.values() for s in group]

    def latencies(self, session_id: str) -> list[float]:
        """Every read → screen latency (ms) the session's connected screens reported."""
        return [v for screen in self.screens(session_id) for v in screen.latencies]

    def publish(self, session_id: str, payloads: list[dict[str, Any]]) -> None:
        """Fan out committed display messages (sync; called by the ingest pipeline).

        Each message is encoded once and kept in the session's recent log, which
        screens catching up read from (one shared copy, not one per screen)."""
        recent = self._recent.get(session_id)
        if recent is None:
            recent = self._recent[session_id] = deque(maxlen=RECENT)
        screens = self._screens.get(session_id, ())
        now = time.time()
        for p in payloads:
            text = dumps_compact(self.payload_filter(session_id, p))
            seq = p["seq"]
            recent.append((seq, text, p.get("read_at", 0)))
            if screens:
                frame = text_frame(text)
                for s in screens:
                    s.deliver(seq, text, frame, now)

    def start_log(self, session_id: str) -> None:
        """The session has no messages yet (the relay read it so): every one of them will be
        published here, so a replay needs no store (the laptop never calls this)."""
        if session_id not in self._recent:
            self._recent[session_id] = deque(maxlen=RECENT)

    def forget(self, session_id: str) -> None:
        """Drop a session's recent log (the relay stops following a session nobody watches);
        replays read the store (``backlog``) until ``publish`` fills it again."""
        self._recent.pop(session_id, None)

    def send_control(self, session_id: str, message: dict[str, Any], screen_id: str | None = None) -> int:
        """Send an unsequenced control message (reload, mode, ...) to a session's screens."""
        text = dumps_compact(self.payload_filter(session_id, message))
        if message.get("type") == "replay":
            if isinstance(message.get("replay"), dict):
                self._replaying[session_id] = message["replay"]
            else:
                self._replaying.pop(session_id, None)
        if message.get("type") == "template":
            # a new template may show fewer fields: replays re-read (and re-filter) the store
            self._recent.pop(session_id, None)
        n = 0
        frame, now = text_frame(text), time.time()
        for s in self._screens.get(session_id, ()):
            if screen_id is None or screen_id in (s.id, s.screen_id):
                s.deliver(0, text, frame, now)
                n += 1
        return n

    async def serve(
        self, request: web.Request, session_id: str, hello: dict[str, Any]
    ) -> web.WebSocketResponse:
        # compress=False: finisher JSON is small and the LAN fast; a zlib context per screen costs
        # ~100 KiB of memory and a pass per message
        # writer_limit: aiohttp's writer looks at flow control once per this many bytes written
        # (default 256 KiB): a screen's transport buffer stays within its high-water mark plus this
        ws = web.WebSocketResponse(
            heartbeat=None, max_msg_size=64 * 1024, compress=False, writer_limit=SEND_BUFFER
        )
        await ws.prepare(request)
        if await self._refuse_screen(ws, session_id, request.remote or ""):
            return ws
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is not None:
            # a small kernel send buffer makes a stalled screen show up in our bounded queue (and its
            # catch-up) within seconds, instead of hiding ~12,000 messages in a 4 MiB buffer
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        screen = Screen(session_id, ws, request.remote or "", request.headers.get("User-Agent", "")[:300])
        screen.transport = direct_transport(ws, request)
        if screen.transport is not None:
            screen.high_water = screen.transport.get_write_buffer_limits()[1]
        screen.last_sent = hello.get("last_seq", 0)  # a new screen is live from the hello on...
        screen.epoch = str(hello.get("epoch") or "")
        # ...but live messages wait until the screen says where it is (`resume`), so a reconnecting
        # screen gets its missed finishers *before* newer ones: strictly in seq order.  A client
        # that never sends `resume` is started from the hello after RESUME_GRACE.
        screen.buffering = True
        self._screens.setdefault(session_id, set()).add(screen)
        self._came_back(screen)
        self._tell(screen, "connected")
        sender = asyncio.create_task(self._send_loop(screen), name=f"screen-{screen.id}")
        asyncio.get_running_loop().call_later(RESUME_GRACE, self._start_without_resume, screen)
        try:
            hello = {**hello, "replay": self._replaying.get(session_id)}  # its REPLAY badge at once
            await ws.send_str(dumps_compact(self.payload_filter(session_id, hello)))
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                self._on_message(screen, msg.data)
        finally:
            sender.cancel()
            group = self._screens.get(session_id)
            if group:
                group.discard(screen)
                if not group:
                    self._screens.pop(session_id, None)
            self._dropped(screen)
            self._tell(screen, "left")
        return ws

    def _tell(self, screen: Screen, what: str) -> None:
        for listener in self.screen_listeners:
            try:
                listener(screen, what)
            except Exception:  # a broken listener must not end a screen's socket
                log.exception("screen listener failed on %s of screen %s", what, screen.id)

    def _dropped(self, screen: Screen) -> None:
        """A screen's socket closed: unless it comes back within ``lost_after``, it is lost."""
        if self._alerts is None or self._closing or screen.leaving:
            return
        key = screen.alert_key
        if key in self._gone or any(s.alert_key == key for s in self.screens()):
            return  # already waiting for it, or it is still connected (another tab, a reload)
        dropped_at = time.time()
        self._gone[key] = asyncio.get_running_loop().call_later(
            self.lost_after, self._lost, screen, dropped_at
        )

    def _lost(self, screen: Screen, dropped_at: float) -> None:
        key = screen.alert_key
        self._gone.pop(key, None)
        if self._alerts is None or any(s.alert_key == key for s in self.screens()):
            return
        viewport = "x".join(map(str, screen.viewport)) or "size unknown"
        name = f"screen {screen.screen_id}" if screen.screen_id else "a screen"
        self._alerts.raise_alert(
            "screen_lost",
            key,
            f"{name} at {screen.remote or 'unknown address'} ({viewport}) on display session "
            f"{self._session_name(screen.session_id)!r} dropped at "
            f"{time.strftime('%H:%M:%S', time.localtime(dropped_at))} and has not come back",
            screen_id=screen.screen_id,
            address=screen.remote,
            session_id=screen.session_id,
            user_agent=screen.user_agent,
        )

    def _came_back(self, screen: Screen) -> None:
        key = screen.alert_key
        handle = self._gone.pop(key, None)
        if handle is not None:
            handle.cancel()
        if self._alerts is not None:
            self._alerts.clear("screen_lost", key)  # stays listed as resolved until acknowledged

    def _start_without_resume(self, screen: Screen) -> None:
        if screen.awaiting_resume:
            # silently: a client that never asked to resume gets no `caught_up` either
            self._resume(screen, screen.last_sent, answer=False)

    def _resume(self, screen: Screen, after: int, *, answer: bool = True) -> None:
        screen.awaiting_resume = False
        screen.answer_resume = answer
        screen.resume_from = after
        if not screen.queue.empty():
            return  # the sender checks resume_from before its next item: no more wake-ups piling up
        screen.queue.put_nowait(None)  # wake the sender

    def _on_message(self, screen: Screen, data: str) -> None:
        """A screen's message.  Nothing a screen sends can end its socket or the hub: text that
        is not a small JSON object is ignored, out-of-range values are ignored or clamped (and
        logged): a screen cannot have seen, rendered or been pinged at a seq or time we never
        sent, and a replay after a seq beyond the session's last would skip every new finisher."""
        screen.last_heartbeat = time.time()
        if len(data) > MAX_SCREEN_MESSAGE:
            log.warning("screen %s: ignored a %d-character message", screen.id, len(data))
            return
        try:
            msg = json.loads(data, parse_constant=_not_a_number)
        except (ValueError, RecursionError):
            return
        if not isinstance(msg, dict):
            return
        kind = msg.get("type")
        if kind == "resume":
            after = msg.get("after_seq", 0)
            epoch = msg.get("epoch")  # absent (an older page): after_seq is taken as today
            if (
                isinstance(after, int)
                and not isinstance(after, bool)
                and "epoch" in msg
                and epoch != screen.epoch
            ):
                trusted = self._resume_point(
                    screen.session_id, epoch if isinstance(epoch, str) else "", after
                )
                if trusted < after:
                    log.info(
                        "screen %s resumes from another epoch (%s) after seq %d: replaying after %d",
                        screen.id,
                        ascii(epoch)[:40],
                        after,
                        trusted,
                    )
                    screen.rewind = after = max(0, trusted)
            recent = self._recent.get(screen.session_id)
            latest = max(screen.last_sent, recent[-1][0] if recent else 0)
            if not isinstance(after, int) or isinstance(after, bool) or after < 0:
                log.warning(
                    "screen %s: ignored resume after_seq %s (%s, not a seq)",
                    screen.id,
                    safe(after, 40),
                    type(after).__name__,
                )
            elif after > latest:
                log.warning(
                    "screen %s: resume after_seq %s is beyond the session's last seq %d; resuming from %d",
                    screen.id,
                    safe(after, 40),
                    latest,
                    latest,
                )
                self._resume(screen, latest)
            else:
                self._resume(screen, after)
            sid = msg.get("screen_id")
            if isinstance(sid, str) and sid[:64] != screen.screen_id:
                screen.screen_id = sid[:64]
                self._came_back(screen)
                self._tell(screen, "identified")
            vp = msg.get("viewport")
            if (
                isinstance(vp, list)
                and len(vp) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 100_000 for v in vp)
            ):
                screen.viewport = vp
        elif kind == "pong":
            t = msg.get("t")  # our own ping's time (ms) echoed back
            rtt = time.time() * 1000 - t if isinstance(t, int | float) and 0 <= t <= 2**53 else -1.0
            if not 0 <= rtt <= 3_600_000 or isinstance(t, bool):
                log.warning("screen %s: ignored pong t=%s (not a ping time we sent)", screen.id, safe(t, 40))
            else:
                screen.rtt_ms = rtt
        elif kind == "rendered":
            seq = msg.get("seq")
            if isinstance(seq, int) and 0 < seq <= screen.last_sent:
                screen.last_rendered = max(screen.last_rendered, seq)
                read_at = self._read_at(screen.session_id, seq)
                if read_at:
                    one_way = (screen.rtt_ms or 0.0) / 2
                    screen.add_latency(max(0.0, time.time() * 1000 - one_way - read_at))

    async def _send_loop(self, screen: Screen) -> None:
        ws = screen.ws
        try:
            while not ws.closed:
                if screen.resume_from is not None:
                    await self._resume_turn(screen)
                    await self._catch_up(screen)
                    continue
                item = await screen.queue.get()
                if item is None:
                    continue
                seq, text = item
                if not text:
                    continue
                if seq:
                    if seq <= screen.last_sent:
                        continue
                    screen.last_sent = seq
                await ws.send_str(text)
                screen.last_message_at = time.time()
        except (ConnectionResetError, RuntimeError, asyncio.CancelledError):
            pass

    async def _catch_up(self, screen: Screen) -> None:
        after, screen.resume_from = screen.resume_from or 0, None
        screen.buffering = True
        # sequenced messages buffered so far are in the recent log/store: replayed below; keep
        # the control messages (mode, template, ...)
        screen.buffer = [item for item in screen.buffer if item[0] == 0 and item[1]]
        # anything already queued will also be in the store or the buffer: drop it
        while not screen.queue.empty():
            item = screen.queue.get_nowait()
            if item is not None and item[0] == 0 and item[1]:
                screen.buffer.append(item)  # keep control messages
        screen.last_sent = after
        try:
            if screen.rewind is not None:  # seqs after it may name other finishers than it saw
                rewind, screen.rewind = screen.rewind, None
                await screen.ws.send_str(
                    json.dumps({"type": "rewind", "after_seq": rewind, "epoch": screen.epoch})
                )
            while True:
                page = self._recent_after(screen.session_id, screen.last_sent)
                if page is None:  # older than the recent log: page through the store
                    stored = await self._store_page(screen.session_id, screen.last_sent, PAGE)
                    sid = screen.session_id
                    page = [(p["seq"], dumps_compact(self.payload_filter(sid, p))) for p in stored]
                if not page:
                    break
                await self._send_page(screen, page)
            for seq, text in screen.buffer:
                if seq == 0 or seq > screen.last_sent:
                    await screen.ws.send_str(text)
                    screen.last_sent = max(screen.last_sent, seq)
        finally:
            screen.buffering = False
            screen.buffer = []
        if screen.answer_resume:
            await screen.ws.send_str(json.dumps({"type": "caught_up", "last_seq": screen.last_sent}))

    async def _send_page(self, screen: Screen, page: list[tuple[int, str]]) -> None:
        """A catch-up page's messages after ``screen.last_sent``, in order.  Written straight to
        the transport (``deliver``'s path: aiohttp's writer has nothing half-written, and the
        screen's live messages wait in ``buffer`` meanwhile) ``PAGE_WRITE`` bytes of frames at a
        time, one ``send()`` each instead of one per message: each system call hands the GIL
        to whatever thread is busy (the store's paging, a snapshot's encoding) and the loop
        waits its turn to get it back (~5 ms under load), so 500 writes stalled every screen and
        the API for seconds while a bind or a rule change caught screens up (issue #13).  The
        writes keep the transport's backpressure: above its high-water mark it waits for the
        screen to read.  A screen that must be framed by aiohttp (compression) gets
        ``send_str`` per message, as before."""
        t = screen.transport
        if t is None:
            for seq, text in page:
                if seq > screen.last_sent:
                    await screen.ws.send_str(text)
                    screen.last_sent = seq
            return
        frames: list[bytes] = []
        size = 0
        for i, (seq, text) in enumerate(page):
            if seq > screen.last_sent:
                frame = text_frame(text)
                frames.append(frame)
                size += len(frame)
                screen.last_sent = seq
            if frames and (size >= PAGE_WRITE or i == len(page) - 1):
                await self._write_frames(screen, t, frames)
                frames, size = [], 0

    async def _write_frames(self, screen: Screen, t: asyncio.Transport, frames: list[bytes]) -> None:
        """``frames`` in one write, then wait while the transport is above its high-water mark."""
        _still_open(screen, t)
        t.write(b"".join(frames))
        screen.direct_frames += len(frames)
        screen.last_message_at = time.time()
        while t.get_write_buffer_size() >= screen.high_water:
            await asyncio.sleep(DRAIN_POLL)
            _still_open(screen, t)

    # --- caps ---------------------------------------------------------------------------------
    async def _refuse_screen(self, ws: web.WebSocketResponse, session_id: str, remote: str) -> bool:
        """Over a screens cap: close the socket with TOO_MANY_SCREENS (the page shows why)."""
        if len(self._screens.get(session_id, ())) >= self.max_screens_per_session:
            cap, value = "max_screens_per_session", self.max_screens_per_session
            what = f"display session {self._session_name(session_id)!r} already has {value} screens"
        elif sum(1 for s in self.screens() if s.remote == remote) >= self.max_screens_per_address:
            cap, value = "max_screens_per_address", self.max_screens_per_address
            what = f"{value} screens are already connected from {remote or 'this address'}"
        else:
            return False
        self.caps.hit(cap, value, remote or "unknown address", f"a screen was refused: {what}")
        await ws.close(code=TOO_MANY_SCREENS, message=b"too many screens")
        return True

    async def _resume_turn(self, screen: Screen) -> None:
        """A catch-up that must read the store waits until ``resume_interval`` has passed since
        the screen's previous one (a screen looping ``resume after_seq=0`` cannot keep the one
        DB thread busy).  Resumes asked meanwhile are one: the latest.  Live messages wait in
        the screen's bounded buffer."""
        after = screen.resume_from or 0
        if self._recent_after(screen.session_id, after) is not None:
            return  # from the in-memory recent log: cheap
        wait = screen.last_store_catchup + self.resume_interval - time.monotonic()
        if wait > 0:
            self.caps.hit(
                "resume_interval",
                self.resume_interval,
                f"screen {screen.identity}",
                f"a screen at {screen.remote or 'unknown address'} asked for a replay from the store "
                f"again within {self.resume_interval:g} s; its replay waits",
            )
            screen.buffering = True
            await asyncio.sleep(wait)
            # asked again meanwhile (or its buffer overflowed): replay from the lowest asked for
            screen.resume_from = after if screen.resume_from is None else min(after, screen.resume_from)
        screen.last_store_catchup = time.monotonic()
        screen.store_catchups += 1
        self.store_catchups += 1

    async def _store_page(self, session_id: str, after: int, limit: int) -> list[dict[str, Any]]:
        """One catch-up page from the store; at most ``max_store_catchups`` at once (the rest
        wait their turn), so ingest's writes are never queued behind every screen's replay."""
        if self._store_turns.locked():
            self.caps.hit(
                "max_store_catchups",
                self.max_store_catchups,
                f"display session {self._session_name(session_id)!r}",
                f"{self.max_store_catchups} screens are replaying from the store at once; others wait",
            )
        async with self._store_turns:
            self._store_reading += 1
            self.peak_store_reads = max(self.peak_store_reads, self._store_reading)
            self.store_pages += 1
            try:
                return await self._backlog(session_id, after, limit)
            finally:
                self._store_reading -= 1

    def _recent_after(self, session_id: str, after: int) -> list[tuple[int, str]] | None:
        """Up to PAGE recent messages after ``after``; None if the log does not reach back that far."""
        recent = self._recent.get(session_id)
        if recent is not None and not recent:
            return []  # start_log: a session with no messages yet, all of them will come here
        if not recent or recent[0][0] > after + 1:
            return None
        out = []
        for item in reversed(recent):  # the wanted part is at the end: walk back to it
            if item[0] <= after:
                break
            out.append(item)
        out.reverse()
        return [(seq, text) for seq, text, _read_at in out[:PAGE]]

    def _read_at(self, session_id: str, seq: int) -> int:
        """When the read behind message ``seq`` arrived (epoch ms), while the recent log holds it
        (a screen renders what it was just sent); else 0."""
        recent = self._recent.get(session_id)
        if not recent:
            return 0
        i = bisect.bisect_left(recent, seq, key=_SEQ)
        return recent[i][2] if i < len(recent) and recent[i][0] == seq else 0

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            now = time.time()
            text = json.dumps({"type": "ping", "t": round(now * 1000)})
            frame = text_frame(text)
            for group in list(self._screens.values()):
                for s in group:
                    if now - s.last_message_at >= HEARTBEAT * 0.9:  # busy screens need no ping
                        s.deliver(0, text, frame, now)
