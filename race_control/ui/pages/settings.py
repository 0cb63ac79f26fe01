"""Settings: data dir, listen address and ports, the LAN address put in display URLs, time zone,
the central database (central_settings.py: its password goes to the keyring, not the file).

Saved to ``DIR/settings.json`` (config.save_settings; the same file ``serve`` reads) and
take effect when Race Control restarts: moving ports under connected timing clients
and screens mid-race would break them.
"""

from __future__ import annotations

import dataclasses
import os
import zoneinfo
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtNetwork import QAbstractSocket, QNetworkInterface
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from race_control.config import Settings, load_settings, save_settings, timing_networks
from race_control.errors import InputError
from race_control.flags import ENV_FEATURES, FLAGS
from race_control.ui.backup_panel import BackupPanel
from race_control.ui.central_settings import CentralSyncGroup
from race_control.ui.prefs import save_prefs
from race_control.ui.widgets import Page

HOSTS = [
    ("0.0.0.0", "0.0.0.0 — the whole LAN (screens and timing clients anywhere on the network)"),
    ("127.0.0.1", "127.0.0.1 — this laptop only"),
]


def lan_addresses() -> list[str]:
    out = []
    for addr in QNetworkInterface.allAddresses():
        if addr.protocol() == QAbstractSocket.NetworkLayerProtocol.IPv4Protocol and not addr.isLoopback():
            out.append(addr.toString())
    return out


def _port_box() -> QSpinBox:
    box = QSpinBox()
    box.setRange(0, 65535)
    box.setSpecialValueText("0 (any free port)")
    box.setMinimumWidth(160)
    box.setMaximumWidth(240)
    return box


class SettingsPage(Page):
    title = "Settings"
    hint = "Where data lives and how screens and timing clients reach this laptop. Changes take effect when Race Control restarts."
    primary_text = "Save settings"

    def __init__(self, window) -> None:  # type: ignore[no-untyped-def]
        super().__init__(window)
        # the parts scroll when the window is shorter than they are (Page.scroll, a laptop screen)
        form = QFormLayout()
        dir_row = QHBoxLayout()
        self.data_dir = QLineEdit()
        dir_row.addWidget(self.data_dir, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.pick_dir)
        dir_row.addWidget(browse)
        form.addRow("Data folder", dir_row)
        self.host = QComboBox()
        self.host.setEditable(True)
        # as wide as the room, not as its longest choice's text (it asked for 625 px)
        self.host.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.host.setMinimumContentsLength(20)
        for value, label in HOSTS:
            self.host.addItem(label, value)
        for addr in lan_addresses():
            self.host.addItem(f"{addr} — only this interface", addr)
        form.addRow("Listen on", self.host)
        self.public_host = QComboBox()
        self.public_host.setEditable(True)
        self.public_host.addItem("automatic (first LAN address)", "")
        for addr in lan_addresses():
            self.public_host.addItem(addr, addr)
        form.addRow("Address in display URLs (LAN interface)", self.public_host)
        self.http_port = _port_box()
        form.addRow("Display + API port", self.http_port)
        self.timing_port = _port_box()
        form.addRow("ChronoTrack (CTP01) port", self.timing_port)
        self.timing_allow = QLineEdit()
        self.timing_allow.setObjectName("timing_allow")
        self.timing_allow.setPlaceholderText("any address (e.g. 192.168.1.0/24, 10.0.0.5)")
        self.timing_allow.setToolTip(
            "Timing clients from other addresses are refused (and shown as an alert). "
            "Separate networks with commas or spaces."
        )
        form.addRow("Timing clients allowed from", self.timing_allow)
        self.timezone = QComboBox()
        self.timezone.setEditable(True)
        self.timezone.addItem("this computer's time zone", "")
        for tz in sorted(zoneinfo.available_timezones()):
            self.timezone.addItem(tz, tz)
        form.addRow("Default time zone", self.timezone)
        self.body.addLayout(form)
        self._features_group()
        self.central = CentralSyncGroup(self)  # partner URL, password (keyring), Test connection
        self.body.addWidget(self.central)
        self.backups = BackupPanel(self)  # Back up now… / Restore…
        self.body.addWidget(self.backups)
        self.running = QLabel()
        self.running.setWordWrap(True)
        self.body.addWidget(self.running)
        self.body.addStretch(1)

    def entered(self) -> None:
        st: Settings = self.services.settings
        try:
            saved = load_settings(st.data_dir)  # the file, not this run's overrides
        except ValueError:
            saved = st
        self.data_dir.setText(str(st.data_dir))
        _set_combo(self.host, saved.host)
        _set_combo(self.public_host, saved.public_host)
        _set_combo(self.timezone, saved.timezone)
        self.http_port.setValue(saved.http_port)
        self.timing_port.setValue(saved.timing_port)
        self.timing_allow.setText(", ".join(saved.timing_allow))
        for name, box in self.feature_boxes.items():
            box.setChecked(saved.features.get(name, FLAGS[name].default))
        env = os.environ.get(ENV_FEATURES, "").strip()
        self.features_env.setText(
            f"{ENV_FEATURES}={env} is set: it overrides these while it is." if env else ""
        )
        self.features_env.setVisible(bool(env))
        self.central.load(saved.central_url)
        self.backups.refresh()
        rc = self.window_.race_control
        self.running.setText(
            f"Running now: displays at <b>{self.services.public_base_url}</b>, ChronoTrack port "
            f"<b>{rc.timing_port if rc else '?'}</b>, data in {st.data_dir}."
        )

    def pick_dir(self) -> None:
        dialog = QFileDialog(self, "Data folder", self.data_dir.text())
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.fileSelected.connect(self.data_dir.setText)
        dialog.open()

    def form_settings(self) -> Settings:
        text = self.data_dir.text().strip()
        if not text:
            raise InputError("choose a data folder")
        current: Settings = self.services.settings
        allow = tuple(self.timing_allow.text().replace(",", " ").split())
        try:
            timing_networks(allow)
        except ValueError as exc:
            raise InputError(f"timing clients allowed from: {exc}") from None
        central_url, _password = self.central.form_url()
        return dataclasses.replace(
            current,
            data_dir=Path(text).expanduser(),
            host=_combo_value(self.host) or "0.0.0.0",
            public_host=_combo_value(self.public_host),
            http_port=self.http_port.value(),
            timing_port=self.timing_port.value(),
            timing_allow=allow,
            timezone=_combo_value(self.timezone),
            api_token="",
            features={name: box.isChecked() for name, box in self.feature_boxes.items()},
            central_url=central_url,  # without its password (central_settings.split_password)
        )

    def _features_group(self) -> None:
        """Experimental features, off by default (race_control.flags): one checkbox per flag."""
        group = QGroupBox("Experimental features")
        lay = QVBoxLayout(group)
        self.feature_boxes: dict[str, QCheckBox] = {}
        for name, flag in FLAGS.items():
            box = QCheckBox(f"{flag.description}  [{name}]")
            box.setObjectName(f"feature_{name}")
            lay.addWidget(box)
            self.feature_boxes[name] = box
        self.features_env = QLabel()
        self.features_env.setTextFormat(Qt.TextFormat.PlainText)
        self.features_env.setWordWrap(True)
        self.features_env.hide()
        lay.addWidget(self.features_env)
        group.setVisible(bool(FLAGS))  # none right now: no empty box
        self.features_group = group
        self.body.addWidget(group)

    async def primary_action(self) -> bool:
        new = self.form_settings()
        _url, password = self.central.form_url()
        stored = await self.central.save_password(new.data_dir, password) if password else ""
        try:
            save_settings(new)
        except OSError as exc:
            raise InputError(f"cannot write settings to {new.data_dir}: {exc.strerror}") from None
        if new.data_dir != self.services.settings.data_dir:
            save_prefs(data_dir=str(new.data_dir))
        self.say(
            f"Saved to {new.data_dir / 'settings.json'}. They take effect when you restart Race Control."
            + (f" {stored}" if stored else "")
        )
        return False


def _set_combo(box: QComboBox, value: str) -> None:
    i = box.findData(value)
    if i >= 0:
        box.setCurrentIndex(i)
    else:
        box.setEditText(value)


def _combo_value(box: QComboBox) -> str:
    text = box.currentText().strip()
    i = box.currentIndex()
    if i >= 0 and box.itemText(i) == text:
        return str(box.itemData(i) or "")
    return text.split(" ", 1)[0] if text else ""
