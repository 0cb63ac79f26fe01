"""The Sync-from-provider dialog on the real app (RaceControl on a tmp data dir, offscreen) against
a fake RunSignUp server on loopback (tests/providers/fakes/runsignup.py): add an account (the
secrets go to the secret store and never back into a widget), find the provider's events,
preview (rows of every list, nothing changed), apply (the roster changes), Cancel during the
fetch (nothing changed), and refused credentials / a provider that is down named in the dialog.

The dialog calls the operations on qasync's loop: qtbot types and clicks, ``until`` waits (see
tests/ui/qtbot_helpers.py).  ``RC_UPDATE_SCREENSHOTS=1`` copies the screenshots into
docs/screenshots/ (provider-sync-dialog.png, provider-account-form.png)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QKeySequence, QPainter
from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot

from race_control.providers.base import RetryPolicy
from race_control.ui.provider_account_form import field_label
from race_control.ui.provider_dialog import ProviderSyncDialog
from race_control.ui.widgets import table_text
from tests.providers.fakes.runsignup import FakeRunSignUp, person
from tests.ui.conftest import Desktop, until
from tests.ui.qtbot_helpers import activate, retype, settle

pytestmark = pytest.mark.gui

SECRET = "s3cret-rsu"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
async def fake() -> AsyncIterator[FakeRunSignUp]:
    server = FakeRunSignUp(api_secret=SECRET)
    server.add_race(48213, "Lakeside Spring Classic", [(903311, "Half Marathon", "13.1 Miles")])
    server.add_race(48999, "Lakeside Fall 5K", [(903400, "5K", "3.1 Miles")], date="10/04/2026")
    server.participants[48213] = [
        person(11, 903311, 1, "Runner1", "X", city="Boise"),
        person(12, 903311, 2, "Runner2", "X"),
        person(13, 903311, 60, "New", "Person"),
        person(14, 903311, None, "Late", "Registrant"),
    ]
    async with server:
        yield server


async def open_dialog(desktop: Desktop, qtbot: QtBot) -> tuple[ProviderSyncDialog, str]:
    """Local mode, an event with runners 1 and 2 (1's first name fixed here on race day), its
    provider dialog opened with Ctrl+Shift+P and active."""
    w, services = desktop.window, desktop.services
    services.ops.providers.accounts.retry = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02)
    w.flow.set_user("")
    event = await services.events.create_event({"name": "Lakeside 2026", "date": "2026-04-12"})
    rows = [
        {"bib": "1", "first_name": "Runner1", "last_name": "X"},
        {"bib": "2", "first_name": "Runner2", "last_name": "X"},
    ]
    await services.ops.roster.import_participants(event.id, rows)
    await services.ops.roster.edit_participant(event.id, "1", {"first_name": "Annie"})
    await activate(w)
    assert w.go(w.pages.index(w.event_page))
    w.event_page.select(event.id)
    assert w.event_page.provider_button.isEnabled()
    qtbot.keySequence(w, QKeySequence("Ctrl+Shift+P"))
    dialog = await until(lambda: getattr(w, "provider_dialog", None), what="the provider dialog")
    await until(dialog.isVisible)
    await activate(dialog)
    return dialog, event.id


async def add_account(
    qtbot: QtBot, dialog: ProviderSyncDialog, fake: FakeRunSignUp, secret: str = SECRET
) -> None:
    form = dialog.form
    assert form.isVisible()  # no account yet: the form is open
    form.provider.setCurrentIndex(form.provider.findData("runsignup"))
    retype(qtbot, form.label, "Lakeside timing")
    retype(qtbot, form.secrets["runsignup"]["api_key"], "key-1")
    retype(qtbot, form.secrets["runsignup"]["api_secret"], secret)
    retype(qtbot, form.base_url, fake.url + "/Rest")
    qtbot.mouseClick(form.save_button, LEFT)
    await until(lambda: "saved" in dialog.message.text(), what="the saved account")
    await settle()
    assert dialog.account.count() == 1


def roster(desktop: Desktop, event_id: str) -> dict[str, tuple[str, str, str]]:
    return {p.bib: (p.first_name, p.last_name, p.city) for p in desktop.services.events.roster(event_id)}


def texts(dialog: ProviderSyncDialog) -> list[str]:
    """Every line edit's text in the dialog (a secret must be in none of them)."""
    return [e.text() for e in dialog.findChildren(QLineEdit)]


async def test_the_account_form_names_what_is_missing_and_never_shows_a_secret_back(
    desktop: Desktop, qtbot: QtBot, fake: FakeRunSignUp, tmp_path: Path
) -> None:
    dialog, _ = await open_dialog(desktop, qtbot)
    form = dialog.form
    assert form.isVisible() and not dialog.preview_button.isEnabled()
    # the providers with an API to sync from (not ACTIVE, whose roster is an export file)
    offered = [form.provider.itemData(i) for i in range(form.provider.count())]
    assert {"runsignup", "raceroster", "eventbrite", "ctlive"} <= set(offered) and "active" not in offered
    # each provider's own credential fields, typed as passwords
    form.provider.setCurrentIndex(form.provider.findData("raceroster"))
    labels = [field_label(n) for n in form.secrets["raceroster"]]
    assert labels == ["Client ID", "Client secret", "Username", "Password"]
    shown = [e for edits in form.secrets.values() for e in edits.values() if e.isVisible()]
    assert shown == list(form.secrets["raceroster"].values())  # only the chosen provider's fields
    hint = dialog.minimumSizeHint()  # the biggest form (four fields) still fits a 1280 x 720 screen
    assert hint.width() <= 1280 and hint.height() <= 680, hint
    form.provider.setCurrentIndex(form.provider.findData("runsignup"))
    edits = form.secrets["runsignup"]
    assert list(edits) == ["api_key", "api_secret"]
    assert all(e.echoMode() == QLineEdit.EchoMode.Password for e in edits.values())
    assert "runsignup.com/Rest" in form.base_url.placeholderText()

    # a missing secret: named, its field focused, nothing saved
    retype(qtbot, form.label, "Lakeside timing")
    retype(qtbot, edits["api_key"], "key-1")
    qtbot.mouseClick(form.save_button, LEFT)
    await settle()
    assert "credential 'api_secret' is required for RunSignUp" in dialog.message.text()
    assert edits["api_secret"].hasFocus()
    screenshot(desktop, dialog, tmp_path, "provider-account-form.png")
    assert dialog.ops.accounts.accounts() == []
    # a base URL with a query (where a key would leak into logs) is refused
    retype(qtbot, edits["api_secret"], SECRET)
    retype(qtbot, form.base_url, fake.url + "/Rest?key=1")
    qtbot.mouseClick(form.save_button, LEFT)
    await settle()
    assert "'base_url' must not hold credentials, a query or a fragment" in dialog.message.text()
    assert form.base_url.hasFocus() and dialog.ops.accounts.accounts() == []

    retype(qtbot, form.base_url, fake.url + "/Rest")
    qtbot.mouseClick(form.save_button, LEFT)
    await until(lambda: "saved" in dialog.message.text(), what="the saved account")
    assert dialog.account.count() == 1 and not form.isVisible()
    assert dialog.account.currentText() == "Lakeside timing — RunSignUp"
    assert SECRET not in texts(dialog) and "key-1" not in texts(dialog)  # cleared, never filled back
    [account] = dialog.ops.accounts.accounts()
    assert await dialog.ops.accounts.credentials(account) == {"api_key": "key-1", "api_secret": SECRET}
    where = "keyring" if "system keyring" in dialog.message.text() else "file"
    assert where == "keyring" or str(desktop.data_dir / "secrets.json") in dialog.message.text()

    # the provider's events, to pick from
    qtbot.mouseClick(dialog.find_button, LEFT)
    await until(lambda: dialog.remote_event.count() == 2, what="the provider's events")
    assert dialog.remote_event.itemText(0) == "Lakeside Spring Classic  2026-04-12  (id 48213)"
    assert dialog.provider_event_id() == "48213"
    dialog.remote_event.setCurrentIndex(1)
    assert dialog.provider_event_id() == "48999"
    retype(qtbot, dialog.remote_event.lineEdit(), "77")  # an id typed in
    assert dialog.provider_event_id() == "77"


async def test_preview_lists_the_rows_then_apply_updates_the_roster(
    desktop: Desktop, qtbot: QtBot, fake: FakeRunSignUp, tmp_path: Path
) -> None:
    dialog, event_id = await open_dialog(desktop, qtbot)
    await add_account(qtbot, dialog, fake)
    before = roster(desktop, event_id)
    assert not dialog.apply_button.isEnabled()  # nothing to apply before a preview
    retype(qtbot, dialog.remote_event.lineEdit(), "48213")
    qtbot.mouseClick(dialog.preview_button, LEFT)
    await until(dialog.apply_button.isEnabled, what="the preview")
    assert roster(desktop, event_id) == before  # a preview changes nothing
    assert dialog.summary.text().startswith(
        "Would apply: 1 added, 2 changed, 0 removed, 0 unchanged; 1 quarantined, 1 kept local"
    )
    tables = dialog.tables
    assert table_text(tables["added_runners"]) == [["60", "New Person", "13"]]
    changes = table_text(tables["changes"])
    assert ["1", "Runner1 X", "11", "city", "—", "Boise"] in changes
    assert {r[0] for r in changes} == {"1", "2"}
    assert table_text(tables["quarantined"]) == [
        [
            "registration 14 (Late Registrant)",
            "has no bib yet: assign one at the provider, or add the runner here as a walk-up",
        ]
    ]
    assert table_text(tables["kept_local"]) == [["1", "11", "first_name", "Runner1", "Annie"]]
    titles = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    assert titles[:4] == ["Added (1)", "Changed (2)", "Removed (0)", "Quarantined (1)"]
    assert "page" in dialog.status.text() and "rows" in dialog.status.text()  # the adapter's progress

    # changing what is synced makes the preview stale: Apply waits for a new one
    dialog.full.setChecked(True)
    assert not dialog.apply_button.isEnabled()
    dialog.full.setChecked(False)
    assert not dialog.apply_button.isEnabled()
    qtbot.mouseClick(dialog.preview_button, LEFT)
    await until(dialog.apply_button.isEnabled, what="the preview again")

    dialog.tabs.setCurrentIndex(1)
    screenshot(desktop, dialog, tmp_path)

    qtbot.mouseClick(dialog.apply_button, LEFT)
    await until(lambda: dialog.message.text().startswith("Applied."), what="the apply")
    assert dialog.summary.text().startswith("Applied: 1 added, 2 changed")
    after = roster(desktop, event_id)
    assert after == {
        "1": ("Annie", "X", "Boise"),  # the race-day edit kept, the provider's city taken
        "2": ("Runner2", "X", "Northfield"),
        "60": ("New", "Person", "Northfield"),
    }
    assert "3 participants" in dialog.message.text() and not dialog.apply_button.isEnabled()
    qtbot.mouseClick(dialog.close_button, LEFT)
    await until(lambda: not dialog.isVisible(), what="the dialog closed")
    item = desktop.window.event_page.list.currentItem()
    assert "3 participants" in item.text()  # the event page redrew


def screenshot(
    desktop: Desktop, dialog: ProviderSyncDialog, tmp_path: Path, name: str = "provider-sync-dialog.png"
) -> None:
    """The dialog over the main window at 1280 x 720: it must fit."""
    w = desktop.window
    w.resize(1280, 720)
    assert dialog.width() <= 1280 and dialog.height() <= 720
    assert dialog.minimumSizeHint().height() <= 720 and dialog.minimumSizeHint().width() <= 1280
    image = w.grab()
    assert (image.width(), image.height()) == (1280, 720)
    shot = dialog.grab()
    painter = QPainter(image)
    painter.fillRect(image.rect(), Qt.GlobalColor.black)  # a dimmed window behind the dialog
    painter.setOpacity(0.45)
    painter.drawPixmap(0, 0, w.grab())
    painter.setOpacity(1.0)
    painter.drawPixmap(QPoint((1280 - shot.width()) // 2, (720 - shot.height()) // 2), shot)
    painter.end()
    path = tmp_path / name
    assert image.save(str(path))
    if os.environ.get("RC_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(path, DOCS / path.name)


async def test_cancel_during_the_fetch_changes_nothing(
    desktop: Desktop, qtbot: QtBot, fake: FakeRunSignUp
) -> None:
    dialog, event_id = await open_dialog(desktop, qtbot)
    await add_account(qtbot, dialog, fake)
    retype(qtbot, dialog.remote_event.lineEdit(), "48213")
    qtbot.mouseClick(dialog.preview_button, LEFT)
    await until(dialog.apply_button.isEnabled, what="the preview")
    before = roster(desktop, event_id)
    # the fetch's last request (the removed registrations) is slow: Cancel while it runs
    fake.fault("removed-participants", "slow", delay=1.0)
    qtbot.mouseClick(dialog.apply_button, LEFT)
    await until(lambda: "page 1" in dialog.status.text(), what="the first page")
    assert dialog.cancel_button.isEnabled() and not dialog.preview_button.isEnabled()
    qtbot.mouseClick(dialog.cancel_button, LEFT)
    await until(lambda: dialog.message.text().startswith("Cancelled"), timeout=15, what="the cancel")
    assert "nothing was changed" in dialog.message.text()
    assert roster(desktop, event_id) == before
    assert not dialog.cancel_button.isEnabled() and dialog.preview_button.isEnabled()
    assert not dialog.apply_button.isEnabled()  # a new preview first


async def test_refused_credentials_and_a_provider_that_is_down_are_named(
    desktop: Desktop, qtbot: QtBot, fake: FakeRunSignUp
) -> None:
    dialog, event_id = await open_dialog(desktop, qtbot)
    await add_account(qtbot, dialog, fake, secret="wrong-secret")
    before = roster(desktop, event_id)
    retype(qtbot, dialog.remote_event.lineEdit(), "48213")
    qtbot.mouseClick(dialog.preview_button, LEFT)
    await until(lambda: "refused the account" in dialog.message.text(), what="the refusal")
    text = dialog.message.text()
    assert "RunSignUp refused the account's credentials" in text and "Invalid API key or secret" in text
    assert "check the credentials of account “Lakeside timing”" in text and "wrong-secret" not in text
    assert "b71c1c" in dialog.message.styleSheet() and not dialog.apply_button.isEnabled()
    assert desktop.window.error_panel.isHidden()  # expected: shown here, not as a crash

    await fake.stop()  # the provider is down: connection refused, retried, then named
    qtbot.mouseClick(dialog.find_button, LEFT)
    await until(lambda: "not answering" in dialog.message.text(), what="the provider down")
    assert "RunSignUp: GET /Rest/races failed 2 times" in dialog.message.text()
    assert roster(desktop, event_id) == before
    assert desktop.window.error_panel.isHidden()


def test_field_labels() -> None:
    assert [field_label(n) for n in ("api_key", "api_secret", "client_id", "token", "user_id")] == [
        "API key",
        "API secret",
        "Client ID",
        "Token",
        "User ID",
    ]
