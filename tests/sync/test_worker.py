"""The sync worker in a running app: a laptop given a central URL syncs by itself.

Real app, real API, real CTP01 socket, real PostgreSQL (migrated, a partner login).  Nothing
here calls the worker's internals: changes are made through the API and the timing port, and
what the test waits for is the central database and ``GET /api/sync``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from race_control.app import RaceControl
from race_control.secrets import SecretStore
from race_control.sync.outbox import backlog
from tests.conftest import Api, make_settings
from tests.helpers.ctp01_peer import RawCtp01Client
from tests.helpers.live_app import running
from tests.helpers.waiting import until
from tests.sync.mirror import Central, assert_mirrored, central_partner
from tests.sync.race_day import feed, race_day, read
from tests.sync.test_push import install_failing_trigger

FAST = {"central_retry_min": 0.05, "central_retry_max": 0.3}


@pytest.fixture
def central() -> Iterator[Central]:
    with central_partner() as c:
        yield c


def settings(tmp_path: Path, url: str, **kw: Any) -> Any:
    return make_settings(tmp_path / "rc", central_url=url, **{**FAST, **kw})


async def synced(api: Api, rc: RaceControl) -> dict[str, Any]:
    """The sync status once nothing is left to send: the local outbox itself is empty (its
    checkpoints move only after a central commit) and the worker says idle."""
    status: dict[str, Any] = await until(
        lambda: _idle(api, rc), "everything synced (local backlog 0, state idle)", timeout=60
    )
    return status


async def _idle(api: Api, rc: RaceControl) -> dict[str, Any] | None:
    assert rc.services is not None
    if (await rc.services.store.run(backlog)).rows:
        return None
    status = await api.ok("GET", "/api/sync")
    return status if status["state"] == "idle" and status["backlog"] == 0 and status["last_success"] else None


def sync_alert(rc: RaceControl) -> Any:
    assert rc.services is not None
    return next((a for a in rc.services.alerts.alerts() if a.kind == "sync_backlog"), None)


def without_password(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@{parts.hostname}:{parts.port}"))


def password_of(url: str) -> str:
    password = urlsplit(url).password
    assert password
    return password


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_laptop_given_a_central_url_syncs_every_change_by_itself(
    tmp_path: Path, central: Central
) -> None:
    async with running(settings(tmp_path, central.url)) as (rc, api):
        ids = await race_day(rc, api)
        status = await synced(api, rc)
        assert status["configured"] is True and status["pushed"] > 0
        assert status["central"] == without_password(central.url)  # never the password
        assert rc.services is not None
        assert_mirrored(rc.services.store.engine, central)

        # reads alone (ingest into a stream no session is bound to: no operation, nothing tells
        # the worker) are found by its periodic check
        client = await RawCtp01Client.connect(rc.timing_port)
        await client.handshake("sync-box-2", ("finish",))
        timing = rc.services.timing
        await until(lambda: timing.stream(ids["other_stream"]).connections, "connected")  # type: ignore[union-attr]
        await synced(api, rc)
        before = central.count("timing_reads")
        await client.send(b"".join(read(n, 300 + n, f"11:{n:02d}:00.00") for n in range(20, 30)))
        pipeline = rc.services.pipeline
        await until(lambda: pipeline.committed_reads >= 24, "24 reads stored")
        await synced(api, rc)
        await client.close()
        assert_mirrored(rc.services.store.engine, central)
        assert central.count("timing_reads") == before + 10 == 24

        metrics = await api.http.get(rc.http_url + "/api/metrics", headers=api.headers)
        text = await metrics.text()
        assert "race_control_sync_backlog 0.0" in text and 'race_control_sync_state{state="idle"} 1.0' in text
    assert ids


async def test_a_batch_the_central_database_refuses_is_retried_by_itself(
    tmp_path: Path, central: Central
) -> None:
    async with running(settings(tmp_path, central.url)) as (rc, api):
        await api.ok("POST", "/api/events", {"name": "Refused 5K", "date": "2026-06-01"}, 201)
        await synced(api, rc)
        install_failing_trigger(central, "timing_reads", 3)
        await feed(
            rc, "refused-box", b"".join(read(n, 100 + n, f"09:{n:02d}:00.00") for n in range(1, 11)), 10
        )
        failing = await until(lambda: _state(api, "error"), "the refused batch shows as error", timeout=60)
        assert "refused row 3" in failing["last_error"] and failing["backlog"] > 0
        assert failing["next_attempt"] is not None
        alert = sync_alert(rc)
        assert alert is not None and alert.active and alert.severity == "critical"
        # nothing of the refused batch is central: no read, and no raw line of one (the
        # handshake's lines and the stream may have gone in a batch of their own before)
        assert central.count("timing_reads") == 0
        assert central.query("SELECT count(*) FROM raw_lines WHERE line LIKE %s", "CT01_33~%") == [(0,)]

        central.query("DROP TRIGGER rc_test_refuse ON timing_reads")  # no local write from here on
        await synced(api, rc)
        assert rc.services is not None
        assert_mirrored(rc.services.store.engine, central)
        assert central.count("timing_reads") == 10
        alert = sync_alert(rc)
        assert alert is not None and not alert.active  # resolved once it drained


async def _state(api: Api, state: str) -> dict[str, Any] | None:
    status = await api.ok("GET", "/api/sync")
    return status if status["state"] == state else None


async def _offline_with_backlog(api: Api) -> dict[str, Any] | None:
    status = await _state(api, "offline")
    return status if status and status["backlog"] >= 1 else None


async def test_an_unreachable_central_database_is_offline_visible_and_alerted(tmp_path: Path) -> None:
    url = f"postgresql://fast_p_1:hunter2secret@127.0.0.1:{closed_port()}/central"
    async with running(settings(tmp_path, url, central_backlog_alert=0.0)) as (rc, api):
        await api.ok("POST", "/api/events", {"name": "Offline 5K", "date": "2026-06-01"}, 201)
        status = await until(lambda: _offline_with_backlog(api), "offline, with the event waiting")
        assert status["configured"] is True and status["backlog_since"]
        assert status["last_error"] and status["next_attempt"]
        assert status["central"] == f"postgresql://fast_p_1@127.0.0.1:{urlsplit(url).port}/central"
        assert await api.ok("POST", "/api/sync", status=202)
        alert = await until(lambda: sync_alert(rc), "the sync_backlog alert")
        assert alert.active and "not in the central database" in alert.message
        everything = repr(await api.ok("GET", "/api/sync")) + repr(await api.ok("GET", "/api/alerts"))
        assert "hunter2secret" not in everything
        log_text = "".join(p.read_text("utf-8") for p in (tmp_path / "rc" / "logs").glob("*.log*"))
        assert "hunter2secret" not in log_text


async def test_the_stored_password_completes_a_url_without_one(
    tmp_path: Path, central: Central, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RACE_CONTROL_CENTRAL_PASSWORD", raising=False)
    SecretStore(tmp_path / "rc").set("central-password", password_of(central.url))
    async with running(settings(tmp_path, without_password(central.url))) as (rc, api):
        await api.ok("POST", "/api/events", {"name": "Keyring 5K", "date": "2026-06-01"}, 201)
        status = await synced(api, rc)
        assert central.count("events") == 1
        # (the test server trusts local logins, so the password is checked where it is used)
        assert rc.services is not None
        target = rc.services.sync.target  # type: ignore[union-attr]
        assert target.password == password_of(central.url) and urlsplit(target.url).password is None
        assert "hunter" not in repr(status) and password_of(central.url) not in repr(status)


async def test_a_refused_login_is_an_error_not_offline(tmp_path: Path, central: Central) -> None:
    """(The test server trusts every local login, so the refusal here is an unknown login.)"""
    parts = urlsplit(central.url)
    wrong = urlunsplit(
        parts._replace(netloc=f"nobody_{central.dbname}:not-the-password@{parts.hostname}:{parts.port}")
    )
    async with running(settings(tmp_path, wrong)) as (_rc, api):
        status = await until(lambda: _state(api, "error"), "a refused login shows as error")
        assert "does not exist" in status["last_error"]
        assert "not-the-password" not in repr(status)


async def test_without_a_central_url_sync_is_off_and_everything_works(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path / "rc")) as (rc, api):
        event = await api.ok("POST", "/api/events", {"name": "Local 5K", "date": "2026-06-01"}, 201)
        await feed(rc, "local-box", read(1, 101, "09:01:00.00"), 1)
        status = await api.ok("GET", "/api/sync")
        assert status["configured"] is False and status["state"] == "off" and status["central"] == ""
        code, body = await api.call("POST", "/api/sync")
        assert code == 409 and "no central database is configured" in body["error"]
        assert (await api.ok("GET", f"/api/events/{event['id']}"))["name"] == "Local 5K"
        metrics = await api.http.get(rc.http_url + "/api/metrics", headers=api.headers)
        assert 'race_control_sync_state{state="off"} 1.0' in await metrics.text()
