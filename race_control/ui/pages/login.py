"""Step 1 — log in with a central account, a local account, create one, or work in local mode.

Only verifiers are stored (accounts service).  When the desktop syncs with a central database
(``Settings.central_url``), the page offers the timing company's central accounts (``race-control
central add-user``) and starts on them: the e-mail and password are checked against the central
database (``Accounts.central_login``), and, while it cannot be reached, against the verifier cached
by the last login that could — so a user must have logged in once while connected.  Accounts on
this laptop and local mode stay as they were.  All database and hash work runs off the loop.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from PySide6.QtWidgets import (
    QButtonGroup,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
)

from race_control.accounts import MIN_PASSWORD, CentralLogin
from race_control.central.errors import CentralError
from race_control.errors import InputError
from race_control.sync.connection import CentralTarget, redact
from race_control.ui.widgets import Page, button

LOCAL_HINT = (
    "Log in with your Race Control account on this laptop, or work in local mode without an account. "
    "Passwords are never stored, only a verifier."
)
CENTRAL_HINT = (
    "Log in with your central account (your e-mail and the password your timing company gave you), "
    "an account on this laptop, or work in local mode. Central accounts also work offline once you "
    "have logged in while connected."
)
CHECKING = "Checking with the central database…"

MESSAGES = {
    CentralLogin.WRONG_PASSWORD: "Wrong password for {email}.",
    CentralLogin.UNKNOWN_USER: "The central database has no user {email} (ask your timing company to add you).",
    CentralLogin.DISABLED: "{email} is disabled in the central database: ask your timing company.",
    CentralLogin.OFFLINE_WRONG_PASSWORD: (
        "The central database cannot be reached, and this is not the password {email} last logged in with."
    ),
    CentralLogin.OFFLINE_NEVER: (
        "The central database cannot be reached, and {email} has never logged in on this laptop: "
        "log in once while connected (or use local mode)."
    ),
}


def dsn(target: CentralTarget) -> str:
    """The partner URL with the stored password in it (what ``central.users.fetch_user`` takes)."""
    if not target.password:
        return target.url
    scheme, rest = target.url.split("://", 1)
    userinfo, _, host = rest.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:{quote(target.password, safe='')}@{host}"


class LoginPage(Page):
    title = "Log in"
    hint = LOCAL_HINT
    primary_text = "Log in"

    def __init__(self, window) -> None:  # type: ignore[no-untyped-def]
        super().__init__(window)
        self.creating = False
        self.central_url = (self.services.settings.central_url or "").strip()
        self.central_where = QLabel()
        self.central_where.setObjectName("pageHint")  # muted, as the hint
        self.central_where.setWordWrap(True)
        self.kind_central = QRadioButton("Central account (e-mail)")
        self.kind_central.setObjectName("kindCentral")
        self.kind_local = QRadioButton("Account on this laptop")
        self.kind_local.setObjectName("kindLocal")
        kinds = QButtonGroup(self)
        kinds.addButton(self.kind_central)
        kinds.addButton(self.kind_local)
        kind_row = QHBoxLayout()
        kind_row.addWidget(self.kind_central)
        kind_row.addWidget(self.kind_local)
        kind_row.addStretch(1)
        form = QFormLayout()
        self.kind_label = QLabel("Account")
        self.username = QLineEdit()
        self.username.setPlaceholderText("e.g. timer@finish")
        self.username_label = QLabel("User name")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm = QLineEdit()
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm_label = QLabel("Repeat password")
        form.addRow(self.kind_label, kind_row)
        form.addRow(self.username_label, self.username)
        form.addRow("Password", self.password)
        form.addRow(self.confirm_label, self.confirm)
        self.body.addLayout(form)
        self.body.addWidget(self.central_where)
        row = QHBoxLayout()
        self.toggle = QPushButton("Create a new account instead")
        self.toggle.clicked.connect(lambda: self.set_creating(not self.creating))
        row.addWidget(self.toggle)
        self.local_button = button(
            "Continue in local mode (no account)", self.use_local_mode, shortcut="Ctrl+L"
        )
        row.addWidget(self.local_button)
        row.addStretch(1)
        self.body.addLayout(row)
        self.body.addStretch(1)
        has_central = bool(self.central_url)
        for w in (self.kind_label, self.kind_central, self.kind_local, self.central_where):
            w.setVisible(has_central)
        if has_central:
            self.hint_label.setText(CENTRAL_HINT)
            self.central_where.setText(f"Central database: {redact(self.central_url)}")
        self.kind_central.setChecked(has_central)
        self.kind_local.setChecked(not has_central)
        self.kind_central.toggled.connect(lambda _on: self._show_kind())
        self.set_creating(False)

    @property
    def central(self) -> bool:
        """The form is for a central account."""
        return bool(self.central_url) and self.kind_central.isChecked()

    def entered(self) -> None:
        self.run(self._check_first_run())
        self.username.setFocus()

    async def _check_first_run(self) -> None:
        if not await self.services.accounts.has_users() and not self.central:
            self.set_creating(True)
            self.hint_label.setText(
                "No account on this laptop yet: create one (the password needs at least "
                f"{MIN_PASSWORD} characters), or continue in local mode."
            )

    def _show_kind(self) -> None:
        self.say("")
        if self.central:
            self.hint_label.setText(CENTRAL_HINT)
        self.set_creating(False)

    def set_creating(self, on: bool) -> None:
        self.creating = on and not self.central  # central accounts: race-control central add-user
        self.confirm.setVisible(self.creating)
        self.confirm_label.setVisible(self.creating)
        self.toggle.setVisible(not self.central)
        self.username_label.setText("E-mail" if self.central else "User name")
        self.username.setPlaceholderText(
            "e.g. ann@finishline-timing.com" if self.central else "e.g. timer@finish"
        )
        self.primary.setText("Create account and log in" if self.creating else "Log in")
        self.toggle.setText("I already have an account" if self.creating else "Create a new account instead")

    def use_local_mode(self) -> None:
        self.flow.set_user("")
        self.say("")
        self.window_.next_step(self)

    async def primary_action(self) -> bool:
        user, password = self.username.text().strip(), self.password.text()
        if self.central:
            return await self._central_login(user, password)
        accounts = self.services.accounts
        if self.creating:
            if password != self.confirm.text():
                self.say("The two passwords differ.", error=True)
                return False
            await accounts.create(user, password)
        elif not await accounts.verify(user, password):
            self.say("Unknown user name or wrong password.", error=True)
            self.password.selectAll()
            return False
        self._logged_in(user, "local")
        return True

    async def _central_login(self, email: str, password: str) -> bool:
        if not email:
            self.say("Enter your e-mail address.", error=True)
            self.username.setFocus()
            return False
        if not password:
            self.say("Enter your password.", error=True)
            self.password.setFocus()
            return False
        self.say(CHECKING)
        self.primary.setEnabled(False)
        loop = asyncio.get_running_loop()
        settings = self.services.settings
        try:  # the stored password: a keyring call (D-Bus), off the loop
            target = await loop.run_in_executor(None, CentralTarget.from_settings, settings)
            if target is None:
                raise InputError("central sync is not configured (Settings → Central sync)")
            outcome = await self.services.accounts.central_login(dsn(target), email, password)
        except CentralError as exc:  # the partner login refused, the schema missing, a bad e-mail
            self.say(str(exc), error=True)
            return False
        finally:
            self.primary.setEnabled(True)
        if not outcome.ok:
            self.say(MESSAGES[outcome].format(email=email.lower()), error=True)
            self.password.selectAll()
            self.password.setFocus()
            return False
        self._logged_in(email.lower(), "central-offline" if outcome.offline else "central")
        return True

    def _logged_in(self, user: str, source: str) -> None:
        self.password.clear()
        self.confirm.clear()
        self.say("")
        self.flow.set_user(user, source)
