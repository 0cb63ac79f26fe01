"""Opening the visual template builder (docs/templates.md#builder) from the desktop.

The builder is a page of the app's own server; the browser gets in with a one-time code that
whoever holds the API token asks for (``POST /api/builder/codes``), so the token itself never
goes into a URL or the browser's history.  The desktop asks for that code over loopback like
any client and opens the URL in its own builder window (``builder_view``, QtWebEngine) or,
without QtWebEngine, hands it to the system browser.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from race_control.errors import InputError

log = logging.getLogger("race_control.ui.builder")


def hosted_builder() -> type | None:
    """The desktop's own builder window (``builder_view.BuilderWindow``), or None when
    QtWebEngine is not installed (then the link goes to the system browser)."""
    try:
        from race_control.ui.builder_view import BuilderWindow
    except ImportError as exc:
        log.info("no QtWebEngine (%s): the builder opens in the system browser", exc)
        return None
    return BuilderWindow


class BuilderUnavailable(InputError):
    """The app's server did not hand out a builder link (shown on the page)."""


async def builder_url(base_url: str, api_token: str, template_id: str | None) -> str:
    """The one-time builder URL for ``template_id`` (or a new template when None)."""
    body: dict[str, Any] = {"template_id": template_id} if template_id else {}
    headers = {"Authorization": f"Bearer {api_token}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
            http.post(f"{base_url}/api/builder/codes", json=body, headers=headers) as r,
        ):
            answer = await r.json(content_type=None)
            if r.status != 201:
                why = answer.get("error") if isinstance(answer, dict) else None
                raise BuilderUnavailable(f"the builder link was refused ({r.status}): {why or 'no reason'}")
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise BuilderUnavailable(f"could not reach this app's server for a builder link: {exc}") from None
    url = answer.get("url") if isinstance(answer, dict) else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise BuilderUnavailable("the builder link came back without an address")
    return url
