"""Sync from provider: pick an account (or add one), pick the provider's event, preview, apply.

Calls ``services.ops.providers`` (``operations.provider_sync.ProviderSyncOperations``), the
same actions the local API's ``/api/providers/*`` and ``/api/events/{id}/sync`` call:

* **Add account** — the provider's credential fields (from ``providers.registry``), a label and
  an optional base URL go to ``create_account``, which keeps the credentials in the secret
  store (race_control.secrets); the fields are cleared once saved and never filled back in.
* **Find events** — ``list_events`` of the chosen account (the combo box stays editable: a
  provider event id may be typed).
* **Preview** — ``sync(apply=False)``: fetches and plans, changes nothing; the dialog lists the
  rows to be added, changed (field by field), removed (marked, never deleted), quarantined
  (with the reason), kept local (a race-day edit that wins) and suspected removals.
* **Apply** — ``sync(apply=True)``: fetches again and applies the plan in one unit of work; the
  lists then show what was applied.  Enabled only after a preview of the same account, event
  and full/incremental choice.

Progress (pages, rows) comes from the adapter through a ``Progress``; **Cancel** calls its
``cancel``: the fetch stops before its next request, and a sync cancelled before its apply
changes nothing.  Provider failures (credentials refused, provider down, a malformed answer)
are shown in the dialog, naming the provider and the account.

Parts: the account form (ui/provider_account_form.py) and the preview's tabs (ui/sync_preview.py).
Runs on qasync's loop: every call is a coroutine started with ``tasks.spawn``; the secret store
and HTTP never run on the GUI thread's loop turn for long (the operations use an executor and
httpx).  Provider texts are shown as plain text.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from race_control.progress import Cancelled, Progress
from race_control.providers.accounts import secret_name
from race_control.providers.errors import ProviderAuthError, ProviderError, ProviderUnavailable
from race_control.providers.registry import adapter_class
from race_control.secrets import SecretStore
from race_control.ui import tasks
from race_control.ui.provider_account_form import AccountForm
from race_control.ui.sync_preview import PreviewTabs
from race_control.ui.widgets import EXPECTED

RESULT_STYLE = {
    "ok": "color: #1b5e20; font-weight: 600;",
    "warn": "color: #a15c00; font-weight: 600;",
    "error": "color: #b71c1c; font-weight: 600;",
    "": "",
}


def failure_text(exc: BaseException, account: str) -> str:
    """What went wrong, and what to do about it (the error names the provider and path)."""
    if isinstance(exc, ProviderAuthError):
        return (
            f"{exc} — check the credentials of account “{account}” at the provider, then add the "
            "account again with the right ones. Nothing was changed."
        )
    if isinstance(exc, ProviderUnavailable):
        return f"{exc} — the provider is not answering now. Nothing was changed; try again later."
    if isinstance(exc, ProviderError):
        return f"{exc} — nothing was changed."
    return str(exc)


class ProviderSyncDialog(QDialog):
    def __init__(self, window: Any, event_id: str) -> None:
        super().__init__(window)
        self.window_ = window
        self.services = window.services
        self.ops = self.services.ops.providers
        self.event_id = event_id
        self.progress: Progress | None = None
        self.running: asyncio.Task[Any] | None = None
        self.previewed: tuple[str, str, bool] | None = None  # what the last preview was of
        self.result: dict[str, Any] | None = None
        event = self.services.events.event(event_id)
        self.setWindowTitle(f"Sync from provider — {event.name}")
        self.resize(1120, 660)
        lay = QVBoxLayout(self)

        grid = QGridLayout()
        grid.addWidget(QLabel("Account"), 0, 0)
        self.account = QComboBox()
        self.account.setPlaceholderText("no account yet: add one")
        self.account.currentIndexChanged.connect(self._account_changed)
        grid.addWidget(self.account, 0, 1)
        self.add_button = QPushButton("Add account…")
        self.add_button.clicked.connect(self.show_account_form)
        grid.addWidget(self.add_button, 0, 2)
        grid.addWidget(QLabel("Provider event"), 1, 0)
        self.remote_event = QComboBox()
        self.remote_event.setEditable(True)
        self.remote_event.lineEdit().setPlaceholderText("Find events, or type the provider's event id")
        self.remote_event.currentTextChanged.connect(lambda *_: self._stale())
        grid.addWidget(self.remote_event, 1, 1)
        self.find_button = QPushButton("Find events")
        self.find_button.clicked.connect(self.find_events)
        grid.addWidget(self.find_button, 1, 2)
        self.full = QCheckBox("Full pull (ignore what the last sync saw)")
        self.full.setToolTip(
            "Providers that can send only what changed since the last sync do so unless this is "
            "ticked; a full pull also lists runners missing at the provider (suspected removals)."
        )
        self.full.toggled.connect(lambda *_: self._stale())
        grid.addWidget(self.full, 2, 1)
        grid.setColumnStretch(1, 1)
        lay.addLayout(grid)

        self.form = AccountForm()
        self.form.save_button.clicked.connect(self.save_account)
        self.form.cancel_button.clicked.connect(self.hide_account_form)
        self.form.hide()
        lay.addWidget(self.form)

        self.message = QLabel()
        self.message.setObjectName("providerMessage")
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # provider texts are text
        self.message.setWordWrap(True)
        lay.addWidget(self.message)
        self.summary = QLabel(
            "Choose the account and the provider's event, then Preview: nothing changes yet."
        )
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.tabs = PreviewTabs()
        self.tables = self.tabs.tables
        lay.addWidget(self.tabs, 1)

        row = QHBoxLayout()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setTextVisible(False)
        self.bar.setMaximumWidth(260)
        self.bar.hide()  # shown while the provider is asked
        row.addWidget(self.bar)
        self.status = QLabel("")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        row.addWidget(self.status, 1)
        lay.addLayout(row)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.preview_button = QPushButton("Preview")
        self.preview_button.setDefault(True)
        self.preview_button.clicked.connect(self.preview)
        buttons.addWidget(self.preview_button)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setEnabled(False)
        self.apply_button.clicked.connect(self.apply)
        buttons.addWidget(self.apply_button)
        self.cancel_button = QPushButton("Cancel sync")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.cancel_button)
        self.close_button = QPushButton("Close")
        self.close_button.setAutoDefault(False)
        self.close_button.clicked.connect(self.reject)
        buttons.addWidget(self.close_button)
        lay.addLayout(buttons)
        self.load_accounts()

    # --- accounts -----------------------------------------------------------------------------
    def load_accounts(self, select: str | None = None) -> None:
        self.account.blockSignals(True)
        self.account.clear()
        for a in self.ops.accounts.accounts():
            info = a.to_json()
            self.account.addItem(f"{a.label} — {info['provider_name']}", a.id)
        self.account.blockSignals(False)
        if select is not None:
            self.account.setCurrentIndex(self.account.findData(select))
        self._account_changed()
        if not self.account.count():
            self.show_account_form()

    def account_id(self) -> str | None:
        data = self.account.currentData()
        return str(data) if data else None

    def _account_changed(self) -> None:
        self.remote_event.clear()
        self._stale()
        self._buttons()

    def show_account_form(self) -> None:
        self.form.show()
        self.form.label.setFocus()

    def hide_account_form(self) -> None:
        self.form.clear()
        self.form.hide()

    def save_account(self) -> None:
        self._start(self._save_account(self.form.body()))

    async def _save_account(self, body: dict[str, Any]) -> None:
        try:
            account = await self.ops.create_account(body)
        except EXPECTED as exc:
            self.say(str(exc), "error")
            widget = self.form.widget_for(getattr(exc, "field", "") or "")
            if widget is not None:
                widget.setFocus()
            return
        self.hide_account_form()
        self.load_accounts(select=account.id)
        store = SecretStore(Path(self.services.settings.data_dir))
        name = secret_name(account.id, account.credential_fields[0])
        where = await asyncio.get_running_loop().run_in_executor(None, store.where, name)  # may block
        if where == "file":
            self.say(
                f"Account “{account.label}” saved. No system keyring: its credentials are in {store.file} "
                "(mode 0600, readable by anyone with this account's files). Find its events.",
                "warn",
            )
        else:
            self.say(
                f"Account “{account.label}” saved; its credentials are in the system keyring. Find its events.",
                "ok",
            )

    # --- provider events ----------------------------------------------------------------------
    def find_events(self) -> None:
        account_id = self.account_id()
        if account_id is None:
            self.say("Add a provider account first.", "error")
            return
        self._start(self._find_events(account_id), progress=True)

    async def _find_events(self, account_id: str) -> None:
        assert self.progress is not None
        events = await self.ops.list_events(account_id, self.progress)
        self.remote_event.clear()
        for e in events:
            when = f"  {e.date}" if e.date else ""
            self.remote_event.addItem(f"{e.name}{when}  (id {e.provider_event_id})", e.provider_event_id)
        self.say(
            f"{len(events)} event(s) at the provider; pick the one this race is, then Preview."
            if events
            else "The provider lists no events for this account; type the event id if you know it.",
            "ok" if events else "warn",
        )

    def provider_event_id(self) -> str:
        """The chosen event's id, or what was typed (an id)."""
        i = self.remote_event.currentIndex()
        text = self.remote_event.currentText().strip()
        if i >= 0 and self.remote_event.itemText(i) == self.remote_event.currentText():
            return str(self.remote_event.itemData(i))
        return text

    # --- preview / apply ----------------------------------------------------------------------
    def _request(self) -> tuple[str, str, bool] | None:
        account_id, remote = self.account_id(), self.provider_event_id()
        if account_id is None:
            self.say("Add a provider account first.", "error")
            return None
        if not remote:
            self.say("Choose the provider's event (Find events), or type its id.", "error")
            self.remote_event.setFocus()
            return None
        return account_id, remote, self.full.isChecked()

    def preview(self) -> None:
        request = self._request()
        if request is not None:
            self._start(self._sync(request, apply=False), progress=True)

    def apply(self) -> None:
        request = self._request()
        if request is not None and request == self.previewed:
            self._start(self._sync(request, apply=True), progress=True)

    async def _sync(self, request: tuple[str, str, bool], *, apply: bool) -> None:
        account_id, remote, full = request
        body = {"account_id": account_id, "provider_event_id": remote, "apply": apply, "full": full}
        self.previewed = None
        result = await self.ops.sync(self.event_id, body, self.progress)
        self.result = result
        self.show_result(result)
        if apply:
            n = len(self.services.events.roster(self.event_id))
            self.say(f"Applied. The roster now has {n} participants.", "ok")
        else:
            self.previewed = request
            self.say("Preview only: nothing has changed. Apply makes exactly these changes.", "ok")

    def show_result(self, r: dict[str, Any]) -> None:
        verb = "Applied" if r.get("applied") else "Would apply"
        kind = "a full pull" if r.get("full") else "changes since the last sync"
        text = (
            f"{verb}: {r['added']} added, {r['changed']} changed, {r['removed']} removed, "
            f"{r['unchanged']} unchanged; {len(r['quarantined'])} quarantined, "
            f"{len(r['kept_local'])} kept local, {len(r['suspected_removals'])} suspected removals. "
            f"\n{self._provider_name(r['provider'])} event {r['provider_event_id']}: {kind}, "
            f"{r['pages']} pages, {r['rows']} rows"
            + (f", {r['retries']} retries" if r.get("retries") else "")
            + (f", {r['duplicates']} duplicates collapsed" if r.get("duplicates") else "")
            + "."
            + (" Lists are cut at 500 rows." if r.get("truncated") else "")
        )
        self.summary.setText(text)
        self.tabs.show_result(r)

    @staticmethod
    def _provider_name(provider: str) -> str:
        return adapter_class(provider).name

    # --- running ------------------------------------------------------------------------------
    def _start(self, coro: Any, *, progress: bool = False) -> None:
        if self.running is not None and not self.running.done():
            coro.close()
            return
        self.progress = Progress() if progress else None
        if self.progress is not None:
            self.progress.listeners.append(self._progress_changed)
        self.running = tasks.spawn(self._guarded(coro, progress), name="provider-sync")

    async def _guarded(self, coro: Any, progress: bool) -> None:
        self._busy(True, progress)
        account = self.account.currentText().split(" — ")[0]
        try:
            await coro
        except Cancelled:
            p = self.progress
            done = f" after {p.done} rows" if p is not None and p.done else ""
            self.say(f"Cancelled{done}: nothing was changed.", "warn")
        except (*EXPECTED, ProviderError) as exc:
            self.say(failure_text(exc, account), "error")
        finally:
            self._busy(False, progress)

    def _busy(self, on: bool, progress: bool) -> None:
        for b in (
            self.preview_button,
            self.find_button,
            self.add_button,
            self.form.save_button,
            self.account,
        ):
            b.setEnabled(not on)
        self.cancel_button.setEnabled(on and progress)
        self.close_button.setEnabled(True)
        self.bar.setVisible(on)
        if on:
            self.bar.setRange(0, 0)  # pages to come are not known in advance: busy
            self.status.setText("Asking the provider…" if progress else "Saving…")
            if progress:
                self.say("", "")
        else:
            p = self.progress
            self.status.setText(p.label if p is not None and p.label else "")
        self._buttons(idle=not on)

    def _buttons(self, idle: bool | None = None) -> None:
        if idle is None:
            idle = self.running is None or self.running.done()
        has = self.account_id() is not None
        self.find_button.setEnabled(idle and has)
        self.preview_button.setEnabled(idle and has)
        self.apply_button.setEnabled(idle and self.previewed is not None)

    def _stale(self) -> None:
        """The account, event or full choice changed: the last preview is not of it any more."""
        self.previewed = None
        self.apply_button.setEnabled(False)

    def _progress_changed(self, progress: Progress) -> None:
        self.status.setText(progress.label or "Asking the provider…")

    def cancel(self) -> None:
        if self.progress is not None and self.running is not None and not self.running.done():
            self.progress.cancel()
            self.status.setText("Cancelling: stopping before the next request…")

    def say(self, text: str, kind: str) -> None:
        self.message.setStyleSheet(RESULT_STYLE[kind])
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def reject(self) -> None:
        if self.running is not None and not self.running.done():
            self.cancel()  # closing mid-sync cancels it; the dialog stays until it stops
            if self.progress is not None:
                self.running.add_done_callback(lambda *_: super(ProviderSyncDialog, self).reject())
            return
        super().reject()
