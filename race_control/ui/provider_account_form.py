"""The provider dialog's "Add a provider account" form: provider, label, the provider's own
credential fields (from ``providers.registry``, typed as passwords), an optional base URL.

The form only collects; ``ProviderSyncDialog`` sends ``body()`` to ``create_account`` and calls
``clear`` once it is saved: a secret never stays in, or is filled back into, a widget.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLineEdit, QPushButton

from race_control.providers.registry import adapter_class, providers

WORDS = {"api": "API", "id": "ID", "url": "URL"}


def field_label(name: str) -> str:
    """``api_secret`` → ``API secret``, ``client_id`` → ``Client ID``."""
    words = [WORDS.get(w, w) for w in name.split("_")]
    first = words[0] if words[0] in WORDS.values() else words[0].capitalize()
    return " ".join([first, *words[1:]])


class AccountForm(QGroupBox):
    """Add a provider account: provider, label, its credential fields, an optional base URL."""

    def __init__(self) -> None:
        super().__init__("Add a provider account")
        self.setObjectName("addAccount")
        self.form = form = QFormLayout(self)
        self.provider = QComboBox()
        # a provider of kind "file" (ACTIVE) has no API to sync from: its export is a roster file
        synced = [p for p in providers() if p["kind"] != "file"]
        for p in synced:
            self.provider.addItem(p["name"], p["id"])
        self.provider.currentIndexChanged.connect(self._provider_changed)
        form.addRow("Provider", self.provider)
        self.label = QLineEdit()
        self.label.setPlaceholderText("e.g. Lakeside timing (your name for this account)")
        form.addRow("Label", self.label)
        # every provider's credential rows, in the one form (aligned); only the chosen one's shown
        self.secrets: dict[str, dict[str, QLineEdit]] = {}
        for p in synced:
            cls = adapter_class(p["id"])
            edits: dict[str, QLineEdit] = {}
            for name in (*cls.credential_fields, *cls.optional_credential_fields):
                edit = QLineEdit()
                edit.setObjectName(f"credential_{name}")
                edit.setEchoMode(QLineEdit.EchoMode.Password)
                optional = name in cls.optional_credential_fields
                edit.setPlaceholderText("optional" if optional else "required; kept in the secret store")
                form.addRow(field_label(name), edit)
                edits[name] = edit
            self.secrets[p["id"]] = edits
        self.base_url = QLineEdit()
        form.addRow("Base URL", self.base_url)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save account")
        buttons.addWidget(self.save_button)
        self.cancel_button = QPushButton("Cancel")
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        form.addRow("", buttons)
        self._provider_changed()

    def provider_id(self) -> str:
        return str(self.provider.currentData())

    def _provider_changed(self) -> None:
        for provider, edits in self.secrets.items():
            for e in edits.values():
                self.form.setRowVisible(e, provider == self.provider_id())
        cls = adapter_class(self.provider_id())
        self.base_url.setPlaceholderText(f"optional; default {cls.default_base_url}")

    def body(self) -> dict[str, Any]:
        """The ``create_account`` body (credentials as typed; blank optional ones left out)."""
        edits = self.secrets[self.provider_id()]
        creds = {name: e.text() for name, e in edits.items() if e.text() or name in self._required()}
        body: dict[str, Any] = {
            "provider": self.provider_id(),
            "label": self.label.text(),
            "credentials": creds,
        }
        if self.base_url.text().strip():
            body["base_url"] = self.base_url.text().strip()
        return body

    def _required(self) -> tuple[str, ...]:
        return adapter_class(self.provider_id()).credential_fields

    def widget_for(self, field: str) -> QLineEdit | None:
        """The field an error names (``label``, ``base_url``, ``credentials.api_key``)."""
        if field == "label":
            return self.label
        if field == "base_url":
            return self.base_url
        edits = self.secrets[self.provider_id()]
        name = field.split(".", 1)[1] if field.startswith("credentials.") else ""
        return edits.get(name) or (next(iter(edits.values()), None) if field == "credentials" else None)

    def clear(self) -> None:
        """Forget what was typed: secrets are never kept in (or shown back by) a widget."""
        self.label.clear()
        self.base_url.clear()
        for edits in self.secrets.values():
            for e in edits.values():
                e.clear()
