"""Save a screenshot of every desktop-app screen into docs/screenshots/ui-*.png.

Runs the real app (RaceControl on free ports in a temporary data dir) while the
built-in ChronoTrack simulator replays the bundled 2021 race and two fake screens
watch the display URL.  Uses Xvfb when there is no DISPLAY (QT_QPA_PLATFORM=xcb),
else falls back to the offscreen platform.

    python scripts/screenshots_ui.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@contextlib.contextmanager
def display() -> Iterator[str]:
    """An X display: the current one, a private Xvfb, or none (offscreen)."""
    if os.environ.get("DISPLAY") and os.environ.get("QT_QPA_PLATFORM", "xcb") == "xcb":
        yield "xcb (existing DISPLAY)"
        return
    xvfb = shutil.which("Xvfb")
    if not xvfb:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        yield "offscreen (no Xvfb)"
        return
    num = 99
    while Path(f"/tmp/.X{num}-lock").exists():
        num += 1
    proc = subprocess.Popen(
        [xvfb, f":{num}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            if Path(f"/tmp/.X11-unix/X{num}").exists():
                break
            time.sleep(0.1)
        os.environ["DISPLAY"] = f":{num}"
        os.environ["QT_QPA_PLATFORM"] = "xcb"
        yield f"xcb on Xvfb :{num}"
    finally:
        proc.terminate()
        proc.wait(5)


async def until(cond, timeout: float = 30.0) -> object:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > deadline:
            raise TimeoutError(str(cond))
        await asyncio.sleep(0.05)
    return value


async def fake_screen(url: str, screen_id: str, stop: asyncio.Event) -> None:
    """A browser-like screen: resume, answer pings, report each finisher as rendered."""
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            url + "/ws",
            headers={"User-Agent": f"Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Screen-{screen_id[:2]}"},
        ) as ws,
    ):
        await ws.send_json(
            {"type": "resume", "after_seq": 0, "screen_id": screen_id, "viewport": [1920, 1080]}
        )
        while not stop.is_set():
            try:
                msg = await ws.receive(timeout=0.5)
            except TimeoutError:
                continue
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            if data.get("type") == "ping":
                await ws.send_json({"type": "pong", "t": data["t"]})
            elif data.get("type") == "finisher":
                await asyncio.sleep(0.003)
                now = time.time() * 1000
                await ws.send_json({"type": "rendered", "seq": data["seq"], "at": now, "server_at": now})


async def shoot(out: Path) -> list[Path]:
    from race_control.demo import RACE_DATE, replay_2021
    from race_control.paths import resources_dir
    from race_control.ui.main import start_app, stop_app
    from tests.conftest import make_settings

    saved: list[Path] = []
    tmp = Path(tempfile.mkdtemp(prefix="rc-shots-"))
    os.environ["RACE_CONTROL_DESKTOP_PREFS"] = str(tmp / "desktop.json")
    settings = make_settings(tmp / "data")
    settings = dataclasses.replace(settings, public_host="192.168.1.20", timezone="UTC")
    rc, w = await start_app(settings)
    services = rc.services
    w.resize(1280, 720)  # a timer's laptop (1366x768, or 1920x1080 at 150 %): every page fits it
    w.show()
    stop = asyncio.Event()

    async def grab(name: str, widget=None) -> None:  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.4)
        path = out / f"ui-{name}.png"
        (widget or w).grab().save(str(path))
        saved.append(path)
        print("saved", path.resolve(), flush=True)

    demo = resources_dir() / "demo"
    try:
        # 1 login (first run: create the account)
        await until(lambda: w.login_page.creating)
        w.login_page.username.setText("timer@finish")
        w.login_page.password.setText("correct horse battery")
        w.login_page.confirm.setText("correct horse battery")
        await grab("1-login")
        w.login_page.press_primary()
        await until(lambda: w.page() is w.mode_page)
        # 2 mode
        w.mode_page.choose("results")
        await grab("2-mode")
        w.mode_page.press_primary()
        await until(lambda: w.page() is w.event_page)
        # 3 event + roster import (a ChronoTrack client connects meanwhile)
        await services.events.create_event(
            {"name": "Spring 5K (last month)", "date": "2021-04-10", "timezone": "UTC"}
        )
        w.event_page.name.setText("Run On The Mountain 2021")
        w.event_page.timezone.setCurrentText("UTC")
        w.event_page.date.setDate(RACE_DATE)
        w.event_page.create_button.click()
        await until(lambda: len(services.events.events()) == 2)
        w.event_page.open_import()
        dialog = w.roster_dialog
        bad_roster = tmp / "roster.csv"
        text = (demo / "roster.csv").read_text("utf-8").splitlines()
        text.insert(3, ",Walk,Up,Golden,CO,USA,,,,,,")  # a row without a bib: rejected, highlighted
        bad_roster.write_text("\n".join(text) + "\n", "utf-8")
        dialog.path.setText(str(bad_roster))
        dialog.load_preview()
        await until(lambda: dialog.changes_button.isEnabled())
        dialog.preview_changes()
        await until(lambda: dialog.import_button.isEnabled())
        dialog.start_import()
        await until(lambda: dialog.result is not None)
        await grab("3-roster-import", dialog)
        dialog.close_button.click()
        await grab("3-event")
        w.event_page.press_primary()
        await until(lambda: w.page() is w.template_page)
        # 4 template
        w.template_page.set_color("accent", "#35d07f")
        w.template_page.heading.setText("{event_name}")
        await grab("4-template")
        w.template_page.press_primary()
        await until(lambda: w.page() is w.timing_page)
        # 5 timing picker: rules like the demo's (shared start/finish mat); two screens already watch;
        # the ChronoTrack client connects and its stream is bound as soon as it appears
        tm = w.timing_page
        tm.rules_form.locations.setText("FINISH1")
        tm.rules_form.start_locations.setText("FINISH1")
        tm.rules_form.window_s.setValue(300)
        tm.rules_form.min_since_start.setValue(900)
        await tm.rules_form.apply_rules()
        session = w.flow.session
        url = services.display_url(session).replace("192.168.1.20", "127.0.0.1")
        screens = [asyncio.create_task(fake_screen(url, sid, stop)) for sid in ("a1b2c3" * 4, "d4e5f6" * 4)]

        def bind_on_attach(stream: object) -> None:
            if not session.streams:
                tm.streams.select_stream(stream.id)  # type: ignore[attr-defined]
                tm.run(tm.bind())

        services.timing.listeners.append(bind_on_attach)
        sim = asyncio.create_task(
            replay_2021(
                rc.timing_port,
                speed=30,
                fast_until=dt.time(9, 24),
                max_gap=2.0,
                connection_id="screenshots",
                stop_event=stop,
            )
        )
        await until(lambda: session.finishers >= 25, timeout=90)
        await grab("5-timing")
        # 6 display mode: a second session (another race's screens) runs beside this one
        await services.ops.sessions.create(
            {"event_id": session.event_id, "mode": "pre-race", "name": "9K turnaround"}
        )
        w.timing_page.press_primary()
        await until(lambda: w.page() is w.display_page)
        await until(lambda: w.display_page.screens_panel.screens.rowCount() == 2)
        w.display_page.sessions_panel.leaderboard.setValue(10)
        await until(lambda: session.leaderboard_top == 10)
        await asyncio.sleep(2.5)
        w.display_page.refresh_screens()
        await grab("6-display")
        # 7 analytics, 8 settings
        w.go(w.pages.index(w.analytics_page))
        await until(lambda: w.analytics_page.report is not None)
        await w.analytics_page.refresh()
        await grab("7-analytics")
        w.go(w.pages.index(w.settings_page))
        central = w.settings_page.central  # where the central password is: looked up off the loop
        await until(lambda: central.state.text() != "Password: looking it up…")
        await grab("8-settings")
        # the error panel, as an unexpected error shows it
        w.go(w.pages.index(w.timing_page))

        async def broken() -> None:
            raise OSError(28, "No space left on device")

        from race_control.ui import tasks

        tasks.spawn(broken())
        await until(lambda: w.error_panel.isVisible())
        await grab("9-error-panel")
        stop.set()
        await asyncio.gather(sim, *screens, return_exceptions=True)
    finally:
        stop.set()
        w.close()
        await stop_app(rc, w)
        shutil.rmtree(tmp, ignore_errors=True)
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with display() as how:
        print("display:", how, flush=True)
        import qasync
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication(sys.argv[:1])
        app.setStyle("Fusion")
        app.setQuitOnLastWindowClosed(False)
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        with loop:
            shots = loop.run_until_complete(shoot(args.out))
    print(f"{len(shots)} screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
