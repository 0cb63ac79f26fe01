"""Secrets (the central database password, later provider credentials) kept out of settings.json.

Where a secret comes from, in this order (docs/sync.md#the-password):

1. an environment variable, for the names that have one (``ENV_VARS``: ``central-password`` ←
   ``RACE_CONTROL_CENTRAL_PASSWORD``): a headless ``serve`` or a test sets it; it is never written;
2. the OS keyring (Secret Service, macOS Keychain, Windows Credential Locker) — only when
   ``keyring`` found a real one: its ``fail`` and ``null`` backends and the ``keyrings.alt``
   backends (plaintext files that it silently makes the default when installed) do not count,
   and a keyring that raises (``KeyringLocked``: a Secret Service that is not unlocked,
   ``NoKeyringError``, any ``KeyringError``) is passed over;
3. ``DIR/secrets.json``, mode 0600 in the 0700 data dir (race_control.private_files).  That is
   readable by anyone who can read this account's files: ``insecure`` says so, and the desktop
   shows a warning while any secret is kept there.

Keyring entries are service ``race-control``, username ``"<data dir>:<name>"``, so two data
dirs on one laptop keep their own secrets.  Secrets are never logged.

Keyring calls may block (a D-Bus round trip, an unlock prompt): call these methods off the
asyncio loop (``run_in_executor``).  Safe from any thread for different names.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from race_control.errors import InputError
from race_control.private_files import private_dir, private_file, write_private_text

if TYPE_CHECKING:  # keyring is imported when a secret is first looked up (not at start-up)
    from keyring.backend import KeyringBackend

SERVICE = "race-control"
SECRETS_FILE = "secrets.json"
# names with an environment override; the providers add theirs here
ENV_VARS: dict[str, str] = {"central-password": "RACE_CONTROL_CENTRAL_PASSWORD"}
# keyring backends that keep nothing safe (or nothing at all)
NOT_REAL = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")

Where = Literal["env", "keyring", "file"]

log = logging.getLogger("race_control.secrets")


def real_keyring(backend: KeyringBackend) -> bool:
    """True if ``backend`` stores secrets in the OS (a chain: only if every link does)."""
    from keyring.backends.chainer import ChainerBackend

    if isinstance(backend, ChainerBackend):  # what keyring picks when several backends are viable
        links = list(backend.backends)
        return bool(links) and all(real_keyring(b) for b in links)
    module = type(backend).__module__
    return not any(module == m or module.startswith(m + ".") for m in NOT_REAL)


class SecretStore:
    """The secrets of one data dir.  ``get``/``set``/``delete`` by name (e.g. ``central-password``)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.file = self.data_dir / SECRETS_FILE

    # --- the keyring -----------------------------------------------------------------------
    def _keyring(self) -> KeyringBackend | None:
        import keyring

        backend = keyring.get_keyring()
        return backend if real_keyring(backend) else None

    @property
    def backend_name(self) -> str:
        """What ``set`` writes to now: the keyring backend's name, else the file."""
        backend = self._keyring()
        if backend is None:
            return f"file {self.file}"
        return str(getattr(backend, "name", type(backend).__name__))

    def _username(self, name: str) -> str:
        return f"{self.data_dir.resolve()}:{name}"

    # --- the file --------------------------------------------------------------------------
    def _read_file(self) -> dict[str, str]:
        if not self.file.is_file():
            return {}
        private_file(self.file)  # tightened (with a log line) if something loosened it
        try:
            data = json.loads(self.file.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the secrets file {self.file}: {exc}") from None
        if not isinstance(data, dict):
            raise InputError(f"the secrets file {self.file} is not a JSON object")
        return {str(k): str(v) for k, v in data.items()}

    def _write_file(self, data: dict[str, str]) -> None:
        if not data:
            self.file.unlink(missing_ok=True)
            return
        private_dir(self.data_dir)
        write_private_text(self.file, json.dumps(data, indent=2, sort_keys=True) + "\n")

    # --- the interface ---------------------------------------------------------------------
    def where(self, name: str) -> Where | None:
        """Where ``get(name)`` finds the secret now (None: nowhere)."""
        env = ENV_VARS.get(name)
        if env and os.environ.get(env):
            return "env"
        backend = self._keyring()
        if backend is not None:
            import keyring.errors

            try:
                if backend.get_password(SERVICE, self._username(name)) is not None:
                    return "keyring"
            except keyring.errors.KeyringError as exc:
                log.warning("the keyring (%s) cannot be read: %s", type(backend).__name__, exc)
        return "file" if name in self._read_file() else None

    def get(self, name: str) -> str | None:
        env = ENV_VARS.get(name)
        if env and os.environ.get(env):
            return os.environ[env]
        backend = self._keyring()
        if backend is not None:
            import keyring.errors

            try:
                value = backend.get_password(SERVICE, self._username(name))
            except keyring.errors.KeyringError as exc:
                log.warning("the keyring (%s) cannot be read: %s", type(backend).__name__, exc)
            else:
                if value is not None:
                    return str(value)
        return self._read_file().get(name)

    def set(self, name: str, value: str) -> Where:
        """Store ``value``; returns where it went: ``"keyring"``, or ``"file"`` (insecure, logged)."""
        _check_name(name)
        if not isinstance(value, str) or not value:
            raise InputError(f"secret {name!r}: an empty value cannot be stored (delete it instead)")
        backend = self._keyring()
        if backend is not None:
            import keyring.errors

            try:
                backend.set_password(SERVICE, self._username(name), value)
            except keyring.errors.KeyringError as exc:
                log.warning(
                    "the keyring (%s) cannot store %s (%s): keeping it in %s instead (insecure)",
                    type(backend).__name__,
                    name,
                    exc,
                    self.file,
                )
            else:
                data = self._read_file()
                if data.pop(name, None) is not None:  # an older insecure copy goes
                    self._write_file(data)
                return "keyring"
        else:
            log.warning("no system keyring: %s is kept in %s (insecure)", name, self.file)
        data = self._read_file()
        data[name] = value
        self._write_file(data)
        return "file"

    def delete(self, name: str) -> None:
        """Forget ``name`` in the keyring and the file (an environment variable stays)."""
        _check_name(name)
        backend = self._keyring()
        if backend is not None:
            import keyring.errors

            try:
                backend.delete_password(SERVICE, self._username(name))
            except keyring.errors.PasswordDeleteError:
                pass  # it was not there
            except keyring.errors.KeyringError as exc:
                log.warning("the keyring (%s) cannot delete %s: %s", type(backend).__name__, name, exc)
        data = self._read_file()
        if data.pop(name, None) is not None:
            self._write_file(data)

    @property
    def insecure(self) -> bool:
        """True while any secret of this data dir is kept in the file fallback."""
        return bool(self._read_file())


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise InputError("a secret needs a name")
