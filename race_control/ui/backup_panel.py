"""Settings' Backups box: "Back up now…" and "Restore…".

"Back up now…" asks for a file (a non-modal save dialog), then ``RaceControl.backup`` writes
it off the loop while the app goes on taking reads; the page's message names the file.

"Restore…" never swaps the database under the running app (screens, timing clients and the
ingest pipeline hold it): it checks the chosen file off the loop (manifest, checksums, SQLite
integrity, schema) and shows the exact ``race-control restore`` command to run once Race
Control is closed, with a button that copies it.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from race_control.store.backup import BackupError, check_backup

FILTER = "Race Control backups (*.zip)"


def restore_command(data_dir: Path, file: Path) -> str:
    """The command line that restores ``file`` into ``data_dir``, quoted for this system's shell."""
    args = ["race-control", "restore", "--data-dir", str(data_dir), str(file)]
    if os.name == "nt":
        return subprocess.list2cmdline(args)
    return shlex.join(args)


def summary(manifest: dict[str, Any]) -> str:
    counts = manifest.get("counts") or {}
    parts = [
        f"{counts.get(k, 0)} {label}"
        for k, label in (
            ("events", "events"),
            ("sessions", "display sessions"),
            ("reads", "reads"),
            ("finishers", "finishers"),
        )
    ]
    return ", ".join(parts)


class BackupPanel(QGroupBox):
    def __init__(self, page: Any) -> None:
        super().__init__("Backups")
        self.page = page  # the Settings page: its message line, the window, the services
        self.dialog: QFileDialog | None = None  # the open file dialog, if any
        self.command = ""
        lay = QVBoxLayout(self)
        self.note = QLabel()
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        self.note.setWordWrap(True)
        lay.addWidget(self.note)
        row = QHBoxLayout()
        self.backup_button = QPushButton("Back up now…")
        self.backup_button.setToolTip("Write a backup file now; Race Control keeps running")
        self.backup_button.clicked.connect(self.choose_backup_file)
        row.addWidget(self.backup_button)
        self.restore_button = QPushButton("Restore…")
        self.restore_button.setToolTip("Check a backup file and show how to restore it")
        self.restore_button.clicked.connect(self.choose_restore_file)
        row.addWidget(self.restore_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.restore_help = QLabel()
        self.restore_help.setTextFormat(Qt.TextFormat.PlainText)
        self.restore_help.setWordWrap(True)
        self.restore_help.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.restore_help.hide()
        lay.addWidget(self.restore_help)
        self.copy_button = QPushButton("Copy command")
        self.copy_button.clicked.connect(self.copy_command)
        self.copy_button.setEnabled(False)
        self.copy_button.hide()
        lay.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignLeft)

    @property
    def data_dir(self) -> Path:
        return Path(self.page.services.settings.data_dir)

    def refresh(self) -> None:
        st = self.page.services.settings
        if st.backup_keep > 0:
            every = (
                f"every {st.backup_interval / 60:g} min while reads arrive and "
                if st.backup_interval > 0
                else ""
            )
            self.note.setText(
                f"Automatic backups go to {self.data_dir / 'backups'}: {every}at each clean shutdown; "
                f"the newest {st.backup_keep} are kept."
            )
        else:
            self.note.setText("Automatic backups are off (backup_keep is 0 in settings.json).")

    # --- back up now -------------------------------------------------------------------------
    def choose_backup_file(self) -> None:
        name = f"race-control-backup-{time.strftime('%Y%m%d-%H%M')}.zip"
        dialog = QFileDialog(self, "Back up to", str(Path.home() / name), FILTER)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("zip")
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
        dialog.fileSelected.connect(self.back_up_to)
        self.dialog = dialog
        dialog.open()

    def back_up_to(self, path: str) -> None:
        self.backup_button.setEnabled(False)  # until this backup is written or has failed
        self.page.say(f"Backing up to {path}…")
        self.page.run(self._back_up(Path(path)))

    async def _back_up(self, path: Path) -> None:
        try:
            manifest = await self.page.window_.race_control.backup(path)
        except BackupError as exc:
            self.page.say(str(exc), error=True)
            return
        finally:
            self.backup_button.setEnabled(True)
        self.page.say(f"Backed up to {path}: {summary(manifest)}.")

    # --- restore -----------------------------------------------------------------------------
    def choose_restore_file(self) -> None:
        dialog = QFileDialog(self, "Restore a backup", str(Path.home()), FILTER)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
        dialog.fileSelected.connect(self.explain_restore)
        self.dialog = dialog
        dialog.open()

    def explain_restore(self, path: str) -> None:
        self.restore_button.setEnabled(False)
        self._show_command("")
        self.page.say(f"Checking {path}…")
        self.page.run(self._explain_restore(Path(path)))

    async def _explain_restore(self, path: Path) -> None:
        loop = asyncio.get_running_loop()
        try:
            manifest = await loop.run_in_executor(None, check_backup, path)
        except BackupError as exc:
            self.page.say(str(exc), error=True)
            return
        finally:
            self.restore_button.setEnabled(True)
        command = restore_command(self.data_dir, path)
        self._show_command(
            command,
            f"{path} is a good backup, made {manifest.get('created_at')} ({summary(manifest)}).\n"
            "A restore replaces this app's database, so it needs Race Control closed: quit Race "
            "Control, then run\n\n"
            f"    {command}\n\n"
            "The database it replaces is kept in the data folder as race-control.sqlite3.replaced-<time>; "
            "add --with-settings to restore the backup's settings too.",
        )
        self.page.say("Close Race Control to restore this backup: the command is below.")

    def _show_command(self, command: str, text: str = "") -> None:
        self.command = command
        self.restore_help.setText(text)
        self.restore_help.setVisible(bool(command))
        self.copy_button.setVisible(bool(command))
        self.copy_button.setEnabled(bool(command))

    def copy_command(self) -> None:
        QGuiApplication.clipboard().setText(self.command)
        self.page.say("The restore command is copied.")
