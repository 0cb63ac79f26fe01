"""``race-control providers …`` against the running instance of a data dir and a fake RunSignUp:
add an account (credentials on stdin, never on the command line), list events, preview, apply."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from typing import Any

from race_control.app import RaceControl
from race_control.cli import main
from tests.conftest import Api
from tests.providers.fakes.runsignup import FakeRunSignUp
from tests.providers.test_provider_api import SECRET, fake  # noqa: F401  (the fixture)


async def cli(rc: RaceControl, *args: str, stdin: str = "") -> tuple[int, Any, str]:
    """``race-control providers --data-dir DIR …`` through the real entry point (``cli.main``), in a
    thread (it makes blocking HTTP calls to this loop's server), its output captured."""

    def _run() -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err), mock_stdin(stdin):
            code = main(["providers", "--data-dir", str(rc.settings.data_dir), *args])
        return code, out.getvalue(), err.getvalue()

    code, out, err = await asyncio.get_running_loop().run_in_executor(None, _run)
    return code, json.loads(out) if out.strip() else None, err


@contextmanager
def mock_stdin(text: str) -> Iterator[None]:
    saved, sys.stdin = sys.stdin, io.StringIO(text)
    try:
        yield
    finally:
        sys.stdin = saved


async def test_the_cli_adds_an_account_lists_events_previews_and_applies(
    rc: RaceControl,
    api: Api,
    fake: FakeRunSignUp,  # noqa: F811  (the fixture)
) -> None:
    creds = json.dumps({"api_key": "key-1", "api_secret": SECRET})
    code, acc, err = await cli(
        rc, "add", "runsignup", "Lakeside", "--base-url", fake.url + "/Rest", stdin=creds
    )
    assert code == 0, err
    assert acc["credentials"] == ["api_key", "api_secret"] and SECRET not in json.dumps(acc)
    code, events, _ = await cli(rc, "events", acc["id"])
    assert [e["provider_event_id"] for e in events] == ["48213"]
    event = await api.ok("POST", "/api/events", {"name": "Lakeside", "date": "2026-04-12"}, 201)
    code, preview, _ = await cli(rc, "sync", event["id"], "--account", acc["id"], "--provider-event", "48213")
    assert (code, preview["added"], preview["applied"]) == (0, 3, False)
    assert await api.ok("GET", f"/api/events/{event['id']}/participants") == []
    code, applied, _ = await cli(
        rc, "sync", event["id"], "--account", acc["id"], "--provider-event", "48213", "--apply"
    )
    assert (code, applied["added"], applied["applied"]) == (0, 3, True)
    assert len(await api.ok("GET", f"/api/events/{event['id']}/participants")) == 3
    code, _, err = await cli(rc, "events", "nope")
    assert code == 2 and "provider account 'nope' does not exist" in err
