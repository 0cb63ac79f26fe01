"""Where the central URL comes from (settings.json < env < --central-url) and that settings.json
never gets its password."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from race_control.cli import build_parser
from race_control.config import ENV_CENTRAL_URL, load_settings, save_settings, url_without_password
from race_control.sync.connection import CentralTarget, redact


def test_file_then_env_then_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_CENTRAL_URL, raising=False)
    assert load_settings(tmp_path).central_url == ""
    (tmp_path / "settings.json").write_text(json.dumps({"central_url": "postgresql://a@file/db"}))
    assert load_settings(tmp_path).central_url == "postgresql://a@file/db"
    monkeypatch.setenv(ENV_CENTRAL_URL, "postgresql://a@env/db")
    assert load_settings(tmp_path).central_url == "postgresql://a@env/db"
    args = build_parser().parse_args(["serve", "--central-url", "postgresql://a@cli/db"])
    assert load_settings(tmp_path, central_url=args.central_url).central_url == "postgresql://a@cli/db"
    assert build_parser().parse_args(["demo", "--central-url", "postgresql://a@x/db"]).central_url


def test_settings_json_never_gets_the_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        ENV_CENTRAL_URL, "postgresql://fast_p_1:s3cr%40t@db.example.com:6432/central?sslmode=require"
    )
    settings = load_settings(tmp_path)
    assert CentralTarget.from_settings(settings) == CentralTarget(settings.central_url, None)
    save_settings(settings)
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["central_url"] == "postgresql://fast_p_1@db.example.com:6432/central?sslmode=require"
    assert "s3cr" not in (tmp_path / "settings.json").read_text()


def test_the_url_shown_to_people_has_no_password() -> None:
    assert redact("postgresql://u:pw@h:5432/d") == "postgresql://u@h:5432/d"
    assert redact("postgresql://u@h/d") == "postgresql://u@h/d"
    assert redact("postgresql://u:pw@[::1]:5432/d") == "postgresql://u@[::1]:5432/d"
    assert url_without_password("") == "" and redact("") == ""


def test_no_url_is_no_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_CENTRAL_URL, raising=False)
    assert CentralTarget.from_settings(load_settings(tmp_path)) is None
