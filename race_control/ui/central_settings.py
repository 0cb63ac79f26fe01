"""Settings' "Central sync" box: the partner URL, its password, Test connection.

The URL goes to ``settings.json`` (``Settings.central_url``) without its password; the password
is the secret ``central-password`` (race_control.secrets: the OS keyring, else a 0600 file — and
then this box says it is stored insecurely).  A password typed into the URL is taken out of it.
The field never shows a saved password back: it is empty, and a line says where the saved one is.

Every keyring and database call runs off the loop (a keyring may wait on D-Bus or an unlock
prompt; psycopg2 blocks).  Test connection connects the way the sync worker does
(race_control.sync.connection) and asks the central database which timing partner this login
is; its messages never hold the password.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from race_control.central.connection import check_url
from race_control.config import ENV_CENTRAL_URL
from race_control.errors import InputError
from race_control.secrets import ENV_VARS, SecretStore
from race_control.sync.connection import CentralTarget, SyncFailure, connect, redact

SECRET = "central-password"
TEST_TIMEOUT = 5  # s: the button answers within this even when the server does not
LOOKING = "Password: looking it up…"

# on the frame, not the label: a word-wrapped QLabel with style-sheet padding is given too
# little height and clips its last line
WARNING_STYLE = (
    "#insecureWarning { background: #fff4e5; border: 2px solid #b45309; border-radius: 6px; }"
    "#insecureWarning QLabel { color: #7c2d12; }"
)
RESULT_STYLE = {"ok": "color: #1b5e20; font-weight: 600;", "warn": "color: #a15c00; font-weight: 600;"}
RESULT_STYLE["error"] = "color: #b71c1c; font-weight: 600;"


def split_password(url: str) -> tuple[str, str | None]:
    """(the URL without its password, the password it held or None); InputError for a URL that
    is not a PostgreSQL one (``''`` stays ``''``: sync off)."""
    url = url.strip()
    if not url:
        return "", None
    check_url(url)
    password = urlsplit(url).password
    return redact(url), (unquote(password) if password else None)


def probe(url: str, password: str | None) -> tuple[str, str]:
    """Connect and ask which partner this login is: ("ok"|"warn"|"error", a sentence).  Blocking."""
    try:
        conn = connect(CentralTarget(url, password), connect_timeout=TEST_TIMEOUT)
    except SyncFailure as exc:
        return "error", str(exc)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, current_database()")
            user, db = cur.fetchone()
            try:
                cur.execute(
                    "SELECT name FROM public.timing_partners WHERE id = (SELECT public.rc_current_partner())"
                )
                row = cur.fetchone()
            except Exception as exc:  # any refusal here means "not a central schema"
                text = " ".join(str(exc).split())
                if password:
                    text = text.replace(password, "***")
                return "warn", (
                    f"Connected to {db} as {user}, but it holds no Race Control central schema "
                    f"(race-control central migrate creates it): {text[:200]}"
                )
        if row is None:
            return "warn", (
                f"Connected to {db} as {user}, but {user} is not a timing partner's login: use the "
                "URL that race-control central add-partner printed."
            )
        return "ok", f"OK: connected to {db} as timing partner {row[0]}."
    finally:
        conn.close()


def password_state(where: str | None, backend: str, file: Path) -> str:
    if where == "env":
        return f"Password: from {ENV_VARS[SECRET]} (this run's environment; not saved)."
    if where == "keyring":
        return f"Password: saved in the system keyring ({backend})."
    if where == "file":
        return f"Password: saved in a file (insecure): {file}."
    return "Password: none saved."


class CentralSyncGroup(QGroupBox):
    def __init__(self, page: Any) -> None:
        super().__init__("Central sync")
        self.page = page  # the Settings page: its message line, run(), the services
        self.setObjectName("centralSync")
        form = QFormLayout(self)
        self.url = QLineEdit()
        self.url.setObjectName("central_url")
        self.url.setPlaceholderText(
            "off (e.g. postgresql://partner_login@central.example.com:5432/race_control)"
        )
        self.url.setToolTip(
            "The partner URL that race-control central add-partner printed. Its password is kept "
            "apart (below), never in settings.json."
        )
        form.addRow("Partner URL", self.url)
        row = QHBoxLayout()
        self.password = QLineEdit()
        self.password.setObjectName("central_password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("type to set or replace the password")
        row.addWidget(self.password, 1)
        self.forget_button = QPushButton("Forget password")
        self.forget_button.setEnabled(False)
        self.forget_button.clicked.connect(self.forget)
        row.addWidget(self.forget_button)
        form.addRow("Password", row)
        self.state = _plain(QLabel())
        self.state.setWordWrap(False)  # one line; wrapped labels get a height for a narrower width
        form.addRow("", self.state)
        self.warning_box = QFrame()
        self.warning_box.setObjectName("insecureWarning")
        self.warning_box.setStyleSheet(WARNING_STYLE)
        box = QVBoxLayout(self.warning_box)
        box.setContentsMargins(8, 6, 8, 6)
        self.warning = _plain(QLabel())
        box.addWidget(self.warning)
        self.warning_box.hide()
        form.addRow("", self.warning_box)
        test_row = QHBoxLayout()
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        test_row.addWidget(self.test_button)
        self.result = _plain(QLabel())
        test_row.addWidget(self.result, 1)
        form.addRow("", test_row)
        self.note = _plain(QLabel())
        self.note.setObjectName("pageHint")
        form.addRow("", self.note)
        self.where: str | None = None  # where the saved password is (refresh)

    def secrets(self, data_dir: Path | None = None) -> SecretStore:
        return SecretStore(data_dir or Path(self.page.services.settings.data_dir))

    # --- showing what is saved ------------------------------------------------------------
    def load(self, url: str) -> None:
        """The page was entered: the saved URL, and where its password is (looked up off the loop)."""
        self.url.setText(url)
        self.password.clear()
        self.result.clear()
        running = self.page.services.settings.central_url
        env = os.environ.get(ENV_CENTRAL_URL, "").strip()
        self.note.setText(
            "Changes take effect when Race Control restarts"
            + (f" (syncing now with {redact(running)})." if running else ".")
            + (f" {ENV_CENTRAL_URL} is set: it overrides this URL while it is." if env else "")
        )
        self.state.setText(LOOKING)  # a keyring can take a moment (D-Bus, its first use)
        self.page.run(self.refresh())

    async def refresh(self) -> None:
        store = self.secrets()
        loop = asyncio.get_running_loop()
        where, insecure, backend = await loop.run_in_executor(
            None, lambda: (store.where(SECRET), store.insecure, store.backend_name)
        )
        self.show_state(where, insecure, backend, store.file)

    def show_state(self, where: str | None, insecure: bool, backend: str, file: Path) -> None:
        self.where = where
        self.state.setText(password_state(where, backend, file))
        self.forget_button.setEnabled(where in ("keyring", "file"))
        self.warning.setText(
            "⚠ Secrets are stored insecurely: there is no usable system keyring, so they are in "
            f"{file} (mode 0600), which anyone who can read this account's files can read. "
            "Unlock or install a keyring (GNOME Keyring, KWallet, macOS Keychain, Windows "
            "Credential Manager) and save the password again to move it there."
        )
        self.warning_box.setVisible(insecure)

    # --- saving (the page's Save settings) ------------------------------------------------------
    def form_url(self) -> tuple[str, str | None]:
        """(the URL to save, the password to store or None); InputError naming what is wrong."""
        try:
            url, in_url = split_password(self.url.text())
        except InputError as exc:
            raise InputError(f"central sync: {exc}") from None
        typed = self.password.text()
        return url, (typed or in_url or None)

    async def save_password(self, data_dir: Path, password: str) -> str:
        """Store the password off the loop; a sentence saying where it went."""
        store = self.secrets(data_dir)
        loop = asyncio.get_running_loop()
        went = await loop.run_in_executor(None, store.set, SECRET, password)
        self.password.clear()
        await self.refresh()
        if went == "keyring":
            return "The central password is saved in the system keyring."
        return f"The central password is saved in a file (insecure): {store.file}."

    def forget(self) -> None:
        self.page.run(self._forget())

    async def _forget(self) -> None:
        store = self.secrets()
        await asyncio.get_running_loop().run_in_executor(None, store.delete, SECRET)
        await self.refresh()
        self.page.say("The central password is forgotten.")

    # --- Test connection ------------------------------------------------------------------------
    def test_connection(self) -> None:
        try:
            url, password = self.form_url()
        except InputError as exc:
            self._result("error", str(exc))
            return
        if not url:
            self._result("error", "Type the partner URL first.")
            return
        self.test_button.setEnabled(False)  # one test at a time
        self._result("", f"Connecting to {url}…")
        self.page.run(self._test(url, password))

    async def _test(self, url: str, password: str | None) -> None:
        loop = asyncio.get_running_loop()
        try:
            if password is None:
                password = await loop.run_in_executor(None, self.secrets().get, SECRET)
            kind, text = await loop.run_in_executor(None, probe, url, password)
        finally:
            self.test_button.setEnabled(True)
        self._result(kind, text)

    def _result(self, kind: str, text: str) -> None:
        self.result.setStyleSheet(RESULT_STYLE.get(kind, ""))
        self.result.setText(text)


def _plain(label: QLabel) -> QLabel:
    label.setTextFormat(Qt.TextFormat.PlainText)  # URLs, logins and server messages are text
    label.setWordWrap(True)
    return label
