"""The display page's static files: page.html loads exactly the whitelisted scripts, in order,
same-origin; the server serves whitelisted names only (no listing, no paths)."""

from __future__ import annotations

import re

from race_control.app import RaceControl
from race_control.display_server.pages import SCRIPTS, STATIC
from race_control.paths import resources_dir
from tests.conftest import Api


def test_page_loads_the_whitelisted_scripts_in_order() -> None:
    page = (resources_dir() / "display" / "page.html").read_text(encoding="utf-8")
    srcs = re.findall(r'<script src="([^"]+)" defer></script>', page)
    assert srcs == [f"/display/static/{name}" for name in SCRIPTS]
    assert len(re.findall(r"<script\b", page)) == 1 + len(SCRIPTS)  # plus the config JSON
    for name in STATIC:
        assert (resources_dir() / "display" / name).is_file(), name
    # every script but the last one adds to the shared namespace; only the first creates it
    for name in SCRIPTS:
        text = (resources_dir() / "display" / name).read_text(encoding="utf-8")
        assert "'use strict';" in text, name
        assert ("window.RC = {}" in text) == (name == SCRIPTS[0]), name


async def test_only_whitelisted_names_are_served(rc: RaceControl, api: Api) -> None:
    for name in STATIC:
        status, body = await api.call("GET", f"/display/static/{name}")
        assert status == 200 and body, name
    for bad in (
        "",
        "page.html",
        "templates",
        "templates/results-classic.json",
        "..%2Fpage.html",
        "%2e%2e%2f%2e%2e%2fpyproject.toml",
        "rc-util.js.map",
        "RC-UTIL.JS",
    ):
        status, _ = await api.call("GET", f"/display/static/{bad}")
        assert status == 404, (bad, status)
