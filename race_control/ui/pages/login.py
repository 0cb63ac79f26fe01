"""Step 1 — log in with a local account, create one, or work in local mode (no account).

Only a scrypt verifier is stored (accounts service).  Central accounts (central sync,
a later issue) plug in here as another way to log in: checked online once, then
offline with the cached verifier — the page asks an ``Accounts``-like service either way.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton

from race_control.accounts import MIN_PASSWORD
from race_control.ui.widgets import Page, button


class LoginPage(Page):
    title = "Log in"
    hint = (
        "Log in with your Race Control account on this laptop, or work in local mode without an account. "
        "Passwords are never stored, only a verifier."
    )
    primary_text = "Log in"

    def __init__(self, window) -> None:  # type: ignore[no-untyped-def]
        super().__init__(window)
        self.creating = False
        form = QFormLayout()
        self.username = QLineEdit()
        self.username.setPlaceholderText("e.g. timer@finish")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm = QLineEdit()
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm_label = QLabel("Repeat password")
        form.addRow("User name", self.username)
        form.addRow("Password", self.password)
        form.addRow(self.confirm_label, self.confirm)
        self.body.addLayout(form)
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
        self.set_creating(False)

    def entered(self) -> None:
        self.run(self._check_first_run())
        self.username.setFocus()

    async def _check_first_run(self) -> None:
        if not await self.services.accounts.has_users():
            self.set_creating(True)
            self.hint_label.setText(
                "No account on this laptop yet: create one (the password needs at least "
                f"{MIN_PASSWORD} characters), or continue in local mode."
            )

    def set_creating(self, on: bool) -> None:
        self.creating = on
        self.confirm.setVisible(on)
        self.confirm_label.setVisible(on)
        self.primary.setText("Create account and log in" if on else "Log in")
        self.toggle.setText("I already have an account" if on else "Create a new account instead")

    def use_local_mode(self) -> None:
        self.flow.set_user("")
        self.say("")
        self.window_.next_step(self)

    async def primary_action(self) -> bool:
        user, password = self.username.text().strip(), self.password.text()
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
        self.password.clear()
        self.confirm.clear()
        self.say("")
        self.flow.set_user(user)
        return True
