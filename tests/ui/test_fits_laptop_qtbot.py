"""The desktop fits a laptop: 1280x720 logical pixels (a 1366x768 screen, or 1920x1080 at 150 %).

Every page, and the whole window with each page current, asks for no more than that; at that size,
and at 1264x640 (that screen less a taskbar and the title bar), each page's body needs no
scrolling, no label is clipped and the main button is on screen.  When it does not fit, the
failure names the widgets asking for the most width or height (the culprits).

Screenshots of every page at 1280x720 are saved under the test's tmp dir;
``RC_UPDATE_SCREENSHOTS=1`` copies them into docs/screenshots/desktop-<page>-1280x720.png.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QMargins, QPoint, QRect, QSize
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from race_control.ui.widgets import ElidedLabel
from race_control.ui.window_geometry import FRAME, PREFERRED, first_place, fit
from tests.ui.conftest import Desktop, open_desktop, until
from tests.ui.qtbot_helpers import settle
from tests.ui.test_sync_screenshots import save

pytestmark = pytest.mark.gui

LAPTOP = QSize(1280, 720)
IN_A_FRAME = QSize(1264, 640)  # the window on that screen, less a 40 px taskbar and its frame
LONG_FORMS = ("SettingsPage",)  # scroll down at 720 px (the Save button stays in view); never sideways
# a long event name, as providers send them: it must wrap or elide, never widen the window
SESSION = "Wave B finish line screens (the two LED walls by the medal tent and the big TV in the beer garden)"
EVENT = "Boise Twilight Criterium & Downtown 10K presented by the Treasure Valley Running Club 2021"


def fits(size: QSize, box: QSize = LAPTOP) -> bool:
    return size.width() <= box.width() and size.height() <= box.height()


def culprits(root: QWidget, n: int = 6) -> str:
    """The visible widgets under ``root`` asking for the most width, then for the most height."""
    rows = []
    for w in root.findChildren(QWidget):
        if not w.isVisibleTo(root) or w.isWindow():
            continue
        hint = w.minimumSizeHint().expandedTo(w.minimumSize())
        text = w.text() if callable(getattr(w, "text", None)) else ""
        rows.append(
            (hint.width(), hint.height(), f"{type(w).__name__} {w.objectName()!r} {str(text)[:40]!r}")
        )
    wide = sorted(rows, key=lambda r: -r[0])[:n]
    tall = sorted(rows, key=lambda r: -r[1])[:n]
    return "\n".join(f"  {w}x{h}  {name}" for w, h, name in [*wide, ("", "", "—"), *tall])


def clipped(root: QWidget) -> list[str]:
    """Labels on screen with less room than their text needs: a wrapped one shorter than its lines,
    a one-line one narrower than its text (an ElidedLabel ends in "…" instead: fine)."""
    out = []
    for label in root.findChildren(QLabel):
        if not label.isVisible() or not label.text() or isinstance(label, ElidedLabel):
            continue
        if label.wordWrap():
            need = QSize(label.width(), label.heightForWidth(label.width()))
        else:
            need = label.minimumSizeHint()
        if label.width() < need.width() or label.height() < need.height():
            out.append(
                f"{label.text()[:50]!r} has {label.width()}x{label.height()}, needs {need.width()}x{need.height()}"
            )
    return out


def content_need(page: QWidget) -> QSize:
    """What the page's scrolled body needs at the viewport's width (wrapped labels included)."""
    content = page.scroll.widget()  # type: ignore[attr-defined]
    width = page.scroll.viewport().width()  # type: ignore[attr-defined]
    hint = content.minimumSizeHint()
    height = content.heightForWidth(width) if content.hasHeightForWidth() else hint.height()
    return QSize(hint.width(), max(height, hint.height()))


async def laptop_desktop(desktop: Desktop, size: QSize = LAPTOP) -> Desktop:
    """Local mode, an event with a long name, its display session and a second one with a long name."""
    w, services = desktop.window, desktop.services
    w.flow.set_user("")
    event = await services.events.create_event({"name": EVENT, "date": "2021-05-08", "timezone": "UTC"})
    w.flow.set_event(event.id)
    await w.flow.ensure_session()
    first = w.flow.session_id
    await w.flow.create_session(SESSION, "results")  # listed in the choosers and "Move to"
    w.flow.set_session(first)
    w.resize(size)
    await until(lambda: w.size() == size, what=f"the window at {size.width()}x{size.height()}")
    return desktop


@pytest.mark.parametrize("size", [LAPTOP, IN_A_FRAME], ids=["1280x720", "1264x640"])
async def test_every_page_fits_a_laptop(desktop: Desktop, tmp_path: Path, size: QSize) -> None:
    w = (await laptop_desktop(desktop, size)).window
    at = f"{size.width()}x{size.height()}"
    problems = []
    for i, page in enumerate(w.pages):
        assert w.go(i), f"{type(page).__name__} is locked"
        await settle()
        QApplication.processEvents()
        name = type(page).__name__
        hint, whole, need = page.minimumSizeHint(), w.minimumSizeHint(), content_need(page)
        viewport = page.scroll.viewport().size()
        if not fits(hint, size):
            problems.append(f"{name} asks for {hint.width()}x{hint.height()}:\n{culprits(page)}")
        if not fits(whole, size):
            problems.append(
                f"the window with {name} asks for {whole.width()}x{whole.height()}:\n{culprits(w)}"
            )
        if name in LONG_FORMS:
            need.setHeight(min(need.height(), viewport.height()))
        if not fits(need, viewport):
            problems.append(
                f"{name}'s body needs {need.width()}x{need.height()} in {viewport.width()}x{viewport.height()}:\n"
                f"{culprits(page.scroll.widget())}"
            )
        bars = page.scroll.horizontalScrollBar(), page.scroll.verticalScrollBar()
        if bars[0].isVisible() or (bars[1].isVisible() and name not in LONG_FORMS):
            problems.append(f"{name}'s body scrolls at {at}")
        problems += [f"{name}: {line}" for line in clipped(page)]
        button = page.primary
        where = QRect(button.mapTo(w, button.rect().topLeft()), button.size())
        if not (button.isVisible() and w.rect().contains(where)):
            problems.append(f"{name}'s main button is out of reach at {where}")
        if size == LAPTOP:
            save(w, tmp_path, f"desktop-{page.title.split(' —')[0].lower().replace(' ', '-')}-1280x720.png")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("area", "size"),
    [
        (QRect(0, 0, 1280, 680), QSize(1264, 640)),  # 1920x1080 at 150 %, a 40 px taskbar
        (QRect(0, 0, 1366, 728), PREFERRED.boundedTo(QSize(1350, 688))),  # 1366x768
        (QRect(1920, 0, 2560, 1400), PREFERRED),  # a big second monitor, right of the first
    ],
)
def test_the_first_run_opens_within_the_screen(area: QRect, size: QSize) -> None:
    rect = first_place(area)
    assert rect.size() == size
    framed = rect.marginsAdded(QMargins(FRAME.width() // 2, FRAME.height() - FRAME.width() // 2, 8, 8))
    assert area.contains(framed), (area, framed)


def test_a_place_saved_on_a_bigger_monitor_is_pulled_inside_this_one() -> None:
    area = QRect(0, 0, 1280, 680)
    rect = fit(QRect(1500, 900, 1800, 1000), area)  # off this screen, and larger than it
    assert rect.size() == QSize(1264, 640) and area.contains(rect)
    assert fit(QRect(100, 80, 900, 500), area) == QRect(100, 80, 900, 500)  # fits: kept as it was


async def test_the_window_opens_within_its_screen(desktop: Desktop) -> None:
    """The offscreen screen is 800x800: the window takes it all, never more than its minimum needs."""
    w = desktop.window
    area = w.screen().availableGeometry()
    expected = first_place(area).size().expandedTo(w.minimumSizeHint())
    assert w.size() == expected, (w.size(), expected, area)


async def test_the_window_remembers_its_geometry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefs = tmp_path / "desktop.json"
    monkeypatch.setenv("RACE_CONTROL_DESKTOP_PREFS", str(prefs))
    async with open_desktop(tmp_path / "data") as d:
        w = d.window
        area = w.screen().availableGeometry()
        size = w.minimumSizeHint()  # the offscreen screen is small: the smallest the window can be
        place = QPoint(area.x() + FRAME.width() // 2, area.y() + 50)  # room left for the frame
        w.setGeometry(place.x(), place.y(), size.width(), size.height())
        await until(lambda: w.size() == size, what="resized")
        w.close()
    assert json.loads(prefs.read_text("utf-8"))["window_geometry"]
    async with open_desktop(tmp_path / "data") as d:
        await until(lambda: d.window.size() == size, what="the size of the last run")
        assert d.window.geometry().topLeft() == place
    prefs.write_text(json.dumps({"window_geometry": "not base64 !"}), "utf-8")
    async with open_desktop(tmp_path / "data") as d:  # a damaged pref: the first place
        assert d.window.size() == first_place(area).size().expandedTo(d.window.minimumSizeHint())
