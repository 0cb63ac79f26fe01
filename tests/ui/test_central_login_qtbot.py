"""The login screen with central accounts: the form (qtbot) and real logins on the qasync loop
against a real PostgreSQL (``central add-partner`` / ``add-user``), online and then offline
through a TCP proxy that refuses connections."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from race_control.central import admin
from race_control.sync.connection import CentralTarget, redact
from race_control.ui import tasks
from race_control.ui.main import start_app, stop_app
from race_control.ui.pages.login import CHECKING, dsn
from tests.central.partners import Central, two_partners
from tests.conftest import make_settings
from tests.helpers.tcp_proxy import TcpProxy
from tests.ui.conftest import Desktop, _qapp, until
from tests.ui.qtbot_helpers import activate
from tests.ui.test_forms_qtbot import shows_error
from tests.ui.test_sync_screenshots import save

pytestmark = pytest.mark.gui
PASSWORD = "correct horse battery"
ENV_PASSWORD = "RACE_CONTROL_CENTRAL_PASSWORD"


@contextlib.asynccontextmanager
async def central_desktop(tmp_path: Path, central_url: str) -> AsyncIterator[Desktop]:
    """The real app with ``central_url`` in its settings (as settings.json keeps it: no password)."""
    _qapp()
    rc, window = await start_app(make_settings(tmp_path / "data", central_url=central_url))
    window.show()
    await activate(window)  # the window's Enter shortcut fires only in the active window
    try:
        yield Desktop(rc, window, tmp_path / "data")
    finally:
        if not window.closed.is_set():
            window.close()
        await stop_app(rc, window)
        assert not tasks.pending()


@pytest.fixture(autouse=True)
def _prefs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACE_CONTROL_DESKTOP_PREFS", str(tmp_path / "desktop.json"))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def log_in(qtbot: QtBot, d: Desktop, email: str, password: str) -> Any:
    """Back on the login page, type the e-mail and password, press Enter; wait for the answer."""
    w, login = d.window, d.window.login_page
    assert w.go(w.pages.index(login))
    login.username.clear()
    login.password.clear()
    qtbot.keyClicks(login.username, email)
    qtbot.keyClicks(login.password, password)
    login.say("")
    login.password.setFocus()
    qtbot.keyClick(login.password, Qt.Key.Key_Return)
    await until(
        lambda: w.page() is not login or (login.message.isVisible() and login.message.text() != CHECKING),
        timeout=30,
        what=f"the login's answer ({login.message.text()!r}, {w.page()})",
    )
    assert login.primary.isEnabled()
    return login


def test_dsn_puts_the_stored_password_into_the_url() -> None:
    url = "postgresql://rc_p_1@db.example.com:5432/rc"
    assert dsn(CentralTarget(url, None)) == url
    odd = "p@ss:w/rd %?#"
    parts = urlsplit(dsn(CentralTarget(url, odd)))
    assert unquote(parts.password or "") == odd and parts.username == "rc_p_1"
    assert (parts.hostname, parts.port, parts.path) == ("db.example.com", 5432, "/rc")


async def test_the_form_offers_central_accounts_and_checks_its_fields(
    tmp_path: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    url = f"postgresql://rc_p_1@127.0.0.1:{closed_port()}/rc"
    async with central_desktop(tmp_path, url) as d:
        w, login = d.window, d.window.login_page
        await until(lambda: login.kind_central.isVisible(), what="the central choice")
        assert login.kind_central.isChecked() and login.central
        assert login.username_label.text() == "E-mail" and "@" in login.username.placeholderText()
        assert not login.confirm.isVisible() and not login.toggle.isVisible()  # central: add-user
        assert redact(url) in login.central_where.text()
        # no local account yet: still the central form, not "create an account"
        await until(lambda: not tasks.pending(), what="the first-run check")
        assert not login.creating and login.primary.text() == "Log in"

        qtbot.keyClick(login.username, Qt.Key.Key_Return)
        await until(lambda: shows_error(login, "Enter your e-mail address."), what="no e-mail")
        qtbot.keyClicks(login.username, "ann@example.com")
        qtbot.keyClick(login.username, Qt.Key.Key_Return)
        await until(lambda: shows_error(login, "Enter your password."), what="no password")
        assert login.password.hasFocus()
        login.username.clear()
        qtbot.keyClicks(login.username, "ann")
        qtbot.keyClicks(login.password, PASSWORD)
        qtbot.keyClick(login.password, Qt.Key.Key_Return)
        await until(lambda: shows_error(login, "'ann' is not an e-mail address"), what="a bad e-mail")

        # nothing answers on that port and ann never logged in here
        login.username.clear()
        qtbot.keyClicks(login.username, "ann@example.com")
        qtbot.keyClick(login.password, Qt.Key.Key_Return)
        await until(lambda: shows_error(login, "log in once while connected"), timeout=30, what="offline")
        assert "cannot be reached" in login.message.text() and not w.flow.logged_in
        assert w.page() is login and login.primary.isEnabled()

        login.kind_local.click()  # the laptop's own accounts are still there
        assert not login.central and login.username_label.text() == "User name"
        assert login.toggle.isVisible() and not login.message.isVisible()


async def test_without_a_central_url_the_form_is_the_local_one(desktop: Desktop) -> None:
    login = desktop.window.login_page
    await until(lambda: login.creating, what="first run: the create-account form")
    assert not login.kind_central.isVisible() and not login.central_where.isVisible()
    assert login.username_label.text() == "User name" and login.toggle.isVisible()


@pytest.fixture
def central() -> Iterator[Central]:
    with two_partners(rows=False) as c:
        for email in ("ann@example.com", "carl@example.com", "dora@example.com"):
            admin.add_user(c.admin_url, c.a["partner_id"], email, PASSWORD)
        yield c


def set_disabled(central: Central, email: str) -> None:
    conn = central.admin()
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE users SET disabled = true WHERE email = %s", (email,))
            assert cur.rowcount == 1
    finally:
        conn.close()


@pytest.mark.postgres
async def test_central_logins_online_then_offline_with_the_cached_verifier(
    central: Central, tmp_path: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TcpProxy("127.0.0.1", 5432) as proxy:
        partner = urlsplit(central.a["url"])
        monkeypatch.setenv(ENV_PASSWORD, unquote(partner.password or ""))  # as the desktop keeps it
        url = proxy.url(redact(central.a["url"]))
        async with central_desktop(tmp_path, url) as d:
            w = d.window
            login = await log_in(qtbot, d, "Ann@Example.com", PASSWORD)
            assert w.flow.user == "ann@example.com" and w.page() is not login
            assert "ann@example.com (central account)" in w.user_label.text()

            login = await log_in(qtbot, d, "ann@example.com", "wrong horse battery")
            assert shows_error(login, "Wrong password for ann@example.com.") and w.page() is login
            login = await log_in(qtbot, d, "nobody@example.com", PASSWORD)
            assert shows_error(login, "has no user nobody@example.com")
            login = await log_in(qtbot, d, "bob@example.com", PASSWORD)  # partner B's: not seen
            assert shows_error(login, "has no user bob@example.com")
            set_disabled(central, "dora@example.com")
            login = await log_in(qtbot, d, "dora@example.com", PASSWORD)
            assert shows_error(login, "dora@example.com is disabled")

            proxy.refuse(True)  # the central database cannot be reached now
            w.flow.set_user("someone", "local")
            login = await log_in(qtbot, d, "ann@example.com", PASSWORD)
            assert w.flow.user == "ann@example.com" and w.page() is not login
            assert "ann@example.com (central account, checked offline)" in w.user_label.text()
            login = await log_in(qtbot, d, "ann@example.com", "wrong horse battery")
            assert shows_error(login, "not the password ann@example.com last logged in with")
            login = await log_in(qtbot, d, "carl@example.com", PASSWORD)  # never logged in online
            assert shows_error(login, "carl@example.com has never logged in on this laptop")
            assert shows_error(login, "log in once while connected")
            assert w.flow.user == "ann@example.com"

            proxy.refuse(False)  # reachable, but the partner's login has lost its privileges:
            conn = central.admin()  # an error the timer sees, not an offline login
            try:
                with conn.cursor() as cur:
                    cur.execute(f'REVOKE "{central.dbname}_partner" FROM "{partner.username}"')
            finally:
                conn.close()
            login = await log_in(qtbot, d, "ann@example.com", PASSWORD)
            assert shows_error(login, central.dbname) and w.page() is login


async def test_screenshot_of_the_central_login(
    tmp_path: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/screenshots/ui-login-central.png (``RC_UPDATE_SCREENSHOTS=1``): the central form after
    an offline login of a user who never logged in while connected."""
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    url = "postgresql://rc_central_p_3f9a1c@127.0.0.1:1/rc_central"  # port 1: nothing listens
    async with central_desktop(tmp_path, url) as d:
        d.window.resize(1280, 720)  # a laptop (tests/ui/test_fits_laptop_qtbot.py)
        login = await log_in(qtbot, d, "ann@finishline-timing.com", PASSWORD)
        assert shows_error(login, "log in once while connected")
        save(d.window, tmp_path, "ui-login-central.png")
