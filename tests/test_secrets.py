"""SecretStore: env override → a real OS keyring → a 0600 file in the data dir (insecure, said so).

The keyrings here are real ``keyring`` backends installed with ``keyring.set_keyring`` (an
in-memory one standing in for the OS keyring, keyring's own ``fail`` backend, one that raises
``KeyringLocked`` as a locked Secret Service does); the previous keyring is put back after each
test.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.fail
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend

from race_control.errors import InputError
from race_control.secrets import SERVICE, SecretStore, real_keyring
from tests.helpers.memory_keyring import MemoryKeyring


class LockedKeyring(KeyringBackend):
    """A Secret Service that nobody unlocked: every call raises KeyringLocked."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str, *password: str) -> str | None:
        raise keyring.errors.KeyringLocked("the collection is locked")

    set_password = delete_password = get_password  # type: ignore[assignment]


class PlaintextKeyring(MemoryKeyring):
    """Stands in for keyrings.alt's plaintext file backend (not installed here): the same module."""


PlaintextKeyring.__module__ = "keyrings.alt.file"


def chain(*links: KeyringBackend) -> ChainerBackend:
    """keyring's chain of every viable backend (what it picks when there are several)."""
    return type("Chain", (ChainerBackend,), {"backends": list(links)})()


@pytest.fixture
def use_keyring() -> Iterator[object]:
    previous = keyring.get_keyring()

    def install(backend: KeyringBackend) -> KeyringBackend:
        keyring.set_keyring(backend)
        return backend

    yield install
    keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def no_env_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RACE_CONTROL_CENTRAL_PASSWORD", raising=False)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """What most machines have (0755 dirs, 0644 files): the file must be 0600 all the same."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_real_keyring_holds_the_secret_and_no_file_is_written(
    tmp_path: Path,
    use_keyring,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    ring = use_keyring(MemoryKeyring())
    store = SecretStore(tmp_path / "data")
    assert store.get("central-password") is None and store.where("central-password") is None
    assert store.set("central-password", "s3cret") == "keyring"
    assert store.get("central-password") == "s3cret"
    assert store.where("central-password") == "keyring"
    assert not store.insecure and not store.file.exists()
    assert store.backend_name == "Memory Keyring"
    [(service, username)] = ring.passwords
    assert service == SERVICE and username.endswith(":central-password")

    other = SecretStore(tmp_path / "other")  # another data dir on the same laptop: its own secrets
    assert other.get("central-password") is None
    other.set("central-password", "different")
    assert store.get("central-password") == "s3cret"

    store.delete("central-password")
    assert store.get("central-password") is None and other.get("central-password") == "different"
    with caplog.at_level(logging.WARNING, "race_control.secrets"):
        store.delete("central-password")  # deleting what is not there is fine, and no news
    assert not caplog.records


def test_no_keyring_falls_back_to_a_0600_file_and_says_it_is_insecure(
    tmp_path: Path,
    use_keyring,
    umask_022: None,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    use_keyring(keyring.backends.fail.Keyring())  # what headless Linux gets
    store = SecretStore(tmp_path / "data")
    assert not store.insecure
    with caplog.at_level(logging.WARNING, "race_control.secrets"):
        assert store.set("central-password", "s3cret") == "file"
    assert mode(store.file) == 0o600 and mode(store.file.parent) == 0o700  # as written (umask 022)
    assert "insecure" in caplog.text and "s3cret" not in caplog.text
    assert store.insecure and store.where("central-password") == "file"
    assert store.get("central-password") == "s3cret"
    assert json.loads(store.file.read_text("utf-8")) == {"central-password": "s3cret"}
    assert store.backend_name == f"file {store.file}"

    store.file.chmod(0o644)  # something loosened it: tightened when read
    assert store.get("central-password") == "s3cret" and mode(store.file) == 0o600

    store.delete("central-password")
    assert store.get("central-password") is None and not store.insecure and not store.file.exists()


def test_a_locked_keyring_falls_back_to_the_file(tmp_path: Path, use_keyring) -> None:  # type: ignore[no-untyped-def]
    use_keyring(LockedKeyring())
    store = SecretStore(tmp_path / "data")
    assert store.get("central-password") is None
    assert store.set("central-password", "s3cret") == "file"
    assert store.get("central-password") == "s3cret" and store.insecure
    assert mode(store.file) == 0o600
    store.delete("central-password")  # the locked keyring raises again: still forgotten here
    assert store.get("central-password") is None


def test_once_the_keyring_works_a_new_secret_goes_there_and_the_file_copy_goes(
    tmp_path: Path,
    use_keyring,  # type: ignore[no-untyped-def]
) -> None:
    use_keyring(LockedKeyring())
    store = SecretStore(tmp_path / "data")
    store.set("central-password", "old")
    assert store.insecure
    use_keyring(MemoryKeyring())  # unlocked at the next login
    assert store.get("central-password") == "old"  # still found in the file
    assert store.set("central-password", "new") == "keyring"
    assert store.get("central-password") == "new" and not store.insecure and not store.file.exists()


def test_keyrings_alt_and_empty_chains_do_not_count_as_a_keyring(tmp_path: Path, use_keyring) -> None:  # type: ignore[no-untyped-def]
    assert real_keyring(MemoryKeyring())
    assert not real_keyring(keyring.backends.fail.Keyring())
    assert not real_keyring(PlaintextKeyring())
    assert real_keyring(chain(MemoryKeyring(), MemoryKeyring()))
    assert not real_keyring(chain(MemoryKeyring(), PlaintextKeyring()))  # it may write there
    assert not real_keyring(chain())
    ring = use_keyring(PlaintextKeyring())
    store = SecretStore(tmp_path / "data")
    assert store.set("central-password", "s3cret") == "file"
    assert not ring.passwords and store.insecure


def test_the_environment_overrides_the_stored_secret(
    tmp_path: Path,
    use_keyring,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    use_keyring(MemoryKeyring())
    store = SecretStore(tmp_path / "data")
    store.set("central-password", "stored")
    monkeypatch.setenv("RACE_CONTROL_CENTRAL_PASSWORD", "from-env")
    assert store.get("central-password") == "from-env" and store.where("central-password") == "env"
    assert store.get("other-secret") is None  # only names with a variable have one
    monkeypatch.delenv("RACE_CONTROL_CENTRAL_PASSWORD")
    assert store.get("central-password") == "stored"


def test_bad_input_is_refused(tmp_path: Path, use_keyring) -> None:  # type: ignore[no-untyped-def]
    use_keyring(keyring.backends.fail.Keyring())
    store = SecretStore(tmp_path / "data")
    with pytest.raises(InputError, match="empty value"):
        store.set("central-password", "")
    with pytest.raises(InputError, match="needs a name"):
        store.set(" ", "x")
    assert not store.file.exists()
    store.file.parent.mkdir(parents=True)
    store.file.write_text("[1, 2]")
    with pytest.raises(InputError, match="not a JSON object"):
        store.get("central-password")
