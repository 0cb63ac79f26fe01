"""Settings' Central sync box on the real app (offscreen): the partner URL goes to settings.json
without its password, the password to the keyring (or, with none, to a 0600 file and a warning
says so), it is never shown back, and Test connection talks to a real PostgreSQL.

The keyrings are real ``keyring`` backends installed with ``keyring.set_keyring`` (restored
after each test): an in-memory one standing in for the OS keyring, and keyring's ``fail``
backend (what headless Linux has).
"""

from __future__ import annotations

import json
import socket
import stat
from collections.abc import Iterator

import keyring
import keyring.backends.fail
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from race_control.central import admin
from race_control.config import load_settings
from race_control.flags import FLAGS
from race_control.secrets import SecretStore
from race_control.ui.central_settings import LOOKING, split_password
from tests.helpers.memory_keyring import MemoryKeyring
from tests.helpers.postgres import scratch_database, with_database
from tests.ui.conftest import Desktop, until
from tests.ui.qtbot_helpers import activate, retype, settle

pytestmark = pytest.mark.gui

SECRET = "correct-horse-battery-staple"
RED = "#b71c1c"


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKeyring]:
    monkeypatch.delenv("RACE_CONTROL_CENTRAL_PASSWORD", raising=False)
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("RACE_CONTROL_CENTRAL_PASSWORD", raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield
    keyring.set_keyring(previous)


async def central_group(desktop: Desktop):  # type: ignore[no-untyped-def]
    w = desktop.window
    await activate(w)
    assert w.go(w.pages.index(w.settings_page)), "Settings is locked"
    group = w.settings_page.central
    assert group.state.text() == LOOKING  # never blank while the keyring answers (off the loop)
    await until(lambda: group.state.text() != LOOKING, what="where the password is")
    return w.settings_page, group


def says(page: object, text: str, *, error: bool = False) -> bool:
    m = page.message  # type: ignore[attr-defined]
    return m.isVisible() and text in m.text() and (RED in m.styleSheet()) == error


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_password_in_the_url_is_taken_out_of_it() -> None:
    assert split_password("  ") == ("", None)
    assert split_password("postgresql://p_1:s%40cret@h:5433/rc") == ("postgresql://p_1@h:5433/rc", "s@cret")
    assert split_password("postgresql://p_1@h/rc") == ("postgresql://p_1@h/rc", None)


async def test_save_puts_the_url_in_settings_and_the_password_in_the_keyring(
    desktop: Desktop, qtbot: QtBot, memory_keyring: MemoryKeyring
) -> None:
    page, group = await central_group(desktop)
    assert group.url.text() == "" and group.password.text() == ""
    assert group.state.text() == "Password: none saved." and not group.warning.isVisible()
    assert "take effect when Race Control restarts" in group.note.text()
    assert not group.forget_button.isEnabled()
    # (and the Experimental features box is there only while there is a feature to switch on)
    assert page.features_group.isVisible() == bool(FLAGS)

    retype(qtbot, group.url, "postgresql://p_abc@central.example.com:5432/race_control")
    retype(qtbot, group.password, SECRET)
    page.press_primary()
    await until(lambda: says(page, "saved in the system keyring"), what="saved")
    assert says(page, "They take effect when you restart Race Control")

    text = (desktop.data_dir / "settings.json").read_text("utf-8")
    assert SECRET not in text
    assert json.loads(text)["central_url"] == "postgresql://p_abc@central.example.com:5432/race_control"
    assert load_settings(desktop.data_dir).central_url.endswith("@central.example.com:5432/race_control")
    assert list(memory_keyring.passwords.values()) == [SECRET]
    assert not (desktop.data_dir / "secrets.json").exists()
    assert group.password.text() == ""  # never shown back
    assert group.state.text() == "Password: saved in the system keyring (Memory Keyring)."
    assert group.forget_button.isEnabled() and not group.warning.isVisible()

    # entering the page again: the URL as saved, the password field still empty
    w = desktop.window
    w.go(0)
    w.go(w.pages.index(page))
    await settle()
    assert group.url.text() == "postgresql://p_abc@central.example.com:5432/race_control"
    assert group.password.text() == "" and "system keyring" in group.state.text()

    # a password typed into the URL goes to the keyring too, and out of settings.json
    retype(qtbot, group.url, "postgresql://p_abc:n3w-pass@central.example.com/race_control")
    page.say("")
    page.press_primary()
    await until(lambda: says(page, "saved in the system keyring"), what="saved again")
    assert list(memory_keyring.passwords.values()) == ["n3w-pass"]
    assert "n3w-pass" not in (desktop.data_dir / "settings.json").read_text("utf-8")
    assert (
        load_settings(desktop.data_dir).central_url == "postgresql://p_abc@central.example.com/race_control"
    )

    qtbot.mouseClick(group.forget_button, Qt.MouseButton.LeftButton)
    await until(lambda: says(page, "forgotten"), what="forgotten")
    assert memory_keyring.passwords == {} and group.state.text() == "Password: none saved."


async def test_an_environment_url_is_named_as_overriding_the_field(
    desktop: Desktop, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RACE_CONTROL_CENTRAL_URL", "postgresql://p_env@central.example.com/rc")
    _page, group = await central_group(desktop)
    assert group.url.text() == "postgresql://p_env@central.example.com/rc"
    assert "RACE_CONTROL_CENTRAL_URL is set: it overrides this URL while it is." in group.note.text()


async def test_without_a_keyring_the_password_goes_to_a_0600_file_and_a_warning_shows(
    desktop: Desktop, qtbot: QtBot, no_keyring: None
) -> None:
    page, group = await central_group(desktop)
    assert not group.warning.isVisible()
    retype(qtbot, group.url, "postgresql://p_abc@127.0.0.1:5432/rc")
    retype(qtbot, group.password, SECRET)
    page.press_primary()
    await until(lambda: says(page, "saved in a file (insecure)"), what="saved insecurely")
    file = desktop.data_dir / "secrets.json"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert SecretStore(desktop.data_dir).get("central-password") == SECRET
    assert group.state.text() == f"Password: saved in a file (insecure): {file}."
    assert group.warning.isVisible()
    assert "stored insecurely" in group.warning.text() and str(file) in group.warning.text()
    assert SECRET not in (desktop.data_dir / "settings.json").read_text("utf-8")


async def test_a_url_that_is_not_postgresql_is_refused_and_nothing_is_saved(
    desktop: Desktop, qtbot: QtBot, memory_keyring: MemoryKeyring
) -> None:
    page, group = await central_group(desktop)
    retype(qtbot, group.url, "http://central.example.com/db")
    retype(qtbot, group.password, SECRET)
    page.press_primary()
    await until(
        lambda: says(page, "central sync: the central database URL must start with postgresql://", error=True)
    )
    assert memory_keyring.passwords == {}
    assert not (desktop.data_dir / "settings.json").exists() or "central.example" not in (
        desktop.data_dir / "settings.json"
    ).read_text("utf-8")
    group.test_button.click()
    await until(lambda: "must start with postgresql://" in group.result.text(), what="the test's answer")
    assert RED in group.result.styleSheet()


@pytest.mark.postgres
async def test_test_connection_names_the_partner_or_says_what_is_wrong(
    desktop: Desktop, qtbot: QtBot, memory_keyring: MemoryKeyring
) -> None:
    _page, group = await central_group(desktop)
    with scratch_database() as (owner_url, dbname):
        # the owner of an empty database: it connects, but there is no central schema
        retype(qtbot, group.url, owner_url)
        group.test_button.click()
        await until(lambda: "no Race Control central schema" in group.result.text(), what="no schema")
        assert f"Connected to {dbname} as postgres" in group.result.text()

        admin.migrate(owner_url)
        retype(qtbot, group.url, owner_url)  # migrated, but the owner is no timing partner
        group.test_button.click()
        await until(lambda: "not a timing partner's login" in group.result.text(), what="not a partner")

        partner = admin.add_partner(owner_url, "Finish Line Timing")
        url, password = split_password(partner["url"])
        assert password
        retype(qtbot, group.url, url)
        retype(qtbot, group.password, password)
        group.test_button.click()
        assert not group.test_button.isEnabled()  # one test at a time
        await until(lambda: group.result.text().startswith("OK"), what="connected")
        assert group.result.text() == f"OK: connected to {dbname} as timing partner Finish Line Timing."
        assert group.test_button.isEnabled()

        # a database that is not there: the server's answer, without the password
        retype(qtbot, group.url, with_database(partner["url"], dbname + "_gone"))
        group.test_button.click()
        await until(lambda: "does not exist" in group.result.text(), what="no such database")
        assert password not in group.result.text() and RED in group.result.styleSheet()

    # nobody listening
    retype(qtbot, group.url, f"postgresql://p_abc:{SECRET}@127.0.0.1:{closed_port()}/rc")
    group.test_button.click()
    await until(lambda: "unreachable" in group.result.text(), what="unreachable")
    assert SECRET not in group.result.text()
    assert not desktop.window.error_panel.isVisible()
