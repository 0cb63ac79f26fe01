"""Feature flags: off by default, switched on in DIR/settings.json or RACE_CONTROL_FEATURES (which
wins), listed by GET /api/health; an unknown name stops start-up naming it and the known flags;
a retired name is accepted and ignored.

No feature is experimental right now (``FLAGS`` is empty), so the tests register one of their
own, ``test_flag`` (``flag`` fixture), exactly as a real one is registered."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from race_control.app import RaceControl
from race_control.config import load_settings
from race_control.flags import (
    ENV_FEATURES,
    FLAGS,
    RETIRED,
    Features,
    Flag,
    UnknownFeature,
    parse_env,
    resolve,
    retired_in,
)
from tests.conftest import make_settings
from tests.helpers.live_app import running
from tests.helpers.server_process import race_control_process, serve_env


@pytest.fixture
def flag(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(FLAGS, "test_flag", Flag("test_flag", "A flag the tests register"))
    return "test_flag"


def write_settings(data_dir: Path, **values: object) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "settings.json").write_text(json.dumps(values), "utf-8")


def test_every_flag_is_off_by_default_and_described(flag: str) -> None:
    assert flag in FLAGS
    assert all(not f.default and f.description for f in FLAGS.values())
    assert Features().to_json() == dict.fromkeys(FLAGS, False)
    assert resolve({}, {}).enabled(flag) is False


def test_central_sync_is_retired_not_unknown(tmp_path: Path) -> None:
    """A settings file from when central sync was experimental still starts, and the flag does
    nothing: a laptop syncs when it has a central URL."""
    assert "central_sync" not in FLAGS and "central URL" in RETIRED["central_sync"].replace("database ", "")
    write_settings(tmp_path, features={"central_sync": True})
    features = resolve(load_settings(tmp_path).features, {ENV_FEATURES: "-central_sync"})
    assert features.to_json() == dict.fromkeys(FLAGS, False)
    with pytest.raises(KeyError):
        features.enabled("central_sync")
    assert retired_in(["central_sync", "other"]) == {"central_sync": RETIRED["central_sync"]}


def test_settings_file_turns_a_flag_on(tmp_path: Path, flag: str) -> None:
    write_settings(tmp_path, features={flag: True})
    settings = load_settings(tmp_path)
    assert settings.features == {flag: True}
    assert resolve(settings.features, {}).enabled(flag) is True


def test_the_environment_wins_over_the_settings_file(tmp_path: Path, flag: str) -> None:
    write_settings(tmp_path, features={flag: True})
    features = load_settings(tmp_path).features
    assert resolve(features, {ENV_FEATURES: f"-{flag}"}).enabled(flag) is False
    assert resolve({flag: False}, {ENV_FEATURES: f" {flag} "}).enabled(flag) is True
    assert resolve({flag: True}, {ENV_FEATURES: ""}).enabled(flag) is True


def test_env_syntax() -> None:
    assert parse_env("a, b,-c,,+d") == {"a": True, "b": True, "c": False, "d": True}
    with pytest.raises(UnknownFeature, match="empty flag name"):
        parse_env("a,-")


@pytest.mark.parametrize(
    ("from_file", "env", "where"),
    [
        ({"test_flagg": True}, {}, "settings.json"),
        ({}, {ENV_FEATURES: "test_flag,warp_drive"}, ENV_FEATURES),
    ],
)
def test_an_unknown_flag_is_named_with_the_known_ones(
    from_file: dict[str, bool], env: dict[str, str], where: str, flag: str
) -> None:
    with pytest.raises(UnknownFeature) as info:
        resolve(from_file, env)
    text = str(info.value)
    assert where in text and f"known flags: {flag}" in text
    assert ("'test_flagg'" in text) or ("'warp_drive'" in text)
    assert isinstance(info.value, ValueError)  # the CLI's "a setting that cannot work": exit 2


def test_features_must_be_an_object_of_booleans(tmp_path: Path, flag: str) -> None:
    write_settings(tmp_path, features={flag: "yes"})
    with pytest.raises(ValueError, match="features"):
        load_settings(tmp_path)


def test_asking_for_an_unregistered_flag_is_a_bug() -> None:
    with pytest.raises(KeyError, match="not registered"):
        Features().enabled("warp_drive")


async def test_health_lists_the_flags_of_the_running_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    monkeypatch.delenv(ENV_FEATURES, raising=False)
    settings = make_settings(tmp_path / "data", features={flag: True})
    async with (
        running(settings) as (rc, _api),
        aiohttp.ClientSession() as http,
        http.get(rc.http_url + "/api/health") as r,  # public: no token
    ):
        health = await r.json()
    assert health["features"] == {flag: True}
    monkeypatch.setenv(ENV_FEATURES, f"-{flag}")
    async with running(settings) as (rc, api):
        assert (await api.ok("GET", "/api/health"))["features"] == {flag: False}


async def test_an_unknown_flag_stops_start_up_before_anything_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_FEATURES, "central_sync,warp_drive")  # retired: accepted; unknown: not
    rc = RaceControl(make_settings(tmp_path / "data"))
    with pytest.raises(UnknownFeature, match="'warp_drive'"):
        await rc.start()
    await rc.stop()
    assert not (tmp_path / "data").exists()


async def test_serve_with_an_unknown_flag_in_the_settings_file_exits_2_naming_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "rc"
    write_settings(data_dir, features={"centrl_sync": True})  # a typo of the retired flag
    proc = await race_control_process(
        "serve", "--host", "127.0.0.1", "--http-port", "0", "--timing-port", "0", env=serve_env(data_dir)
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2, (out, err)
    text = err.decode()
    assert "unknown feature flag 'centrl_sync'" in text and "known flags: none" in text  # (this process's)
    assert "Traceback" not in text
    assert not (data_dir / "race-control.sqlite3").exists()
