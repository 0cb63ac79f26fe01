"""The page's Content-Security-Policy enforced in real Chromium (no bypass_csp): eval is refused,
the page still goes live over its same-origin WebSocket, connections elsewhere are blocked."""

from __future__ import annotations

import pytest

from race_control.app import RaceControl
from tests.conftest import Api
from tests.display.browser import chromium
from tests.display.test_resume import setup_session

pytestmark = pytest.mark.browser


async def test_the_policy_refuses_eval_and_other_hosts_and_the_page_goes_live(
    rc: RaceControl, api: Api
) -> None:
    session, client = await setup_session(api, rc.timing_port)
    async with chromium() as browser:
        context = await browser.new_context(bypass_csp=False)
        page = await context.new_page()
        violations: list[str] = []
        page.on(
            "console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None
        )
        response = await page.goto(session["display_url"])
        assert response is not None
        csp = response.headers["content-security-policy"]
        assert "unsafe-eval" not in csp and "frame-ancestors 'self'" in csp
        # live: its WebSocket to this server passed connect-src (polled without eval: the page's CSP holds)
        for _ in range(200):
            if await page.evaluate("() => document.body.dataset.connection") == "live":
                break
            await page.wait_for_timeout(50)
        assert await page.evaluate("() => document.body.dataset.connection") == "live"
        # eval from a page task (DevTools lets code it evaluates itself call eval: run it later)
        refused = await page.evaluate(
            """() => new Promise(done => setTimeout(() => {
                try { eval('1'); done('ran') } catch (e) { done(e.name) }
            }, 0))"""
        )
        assert refused == "EvalError"
        elsewhere = await page.evaluate(
            """() => new Promise(done => {
                try {
                    const ws = new WebSocket('ws://127.0.0.2:9/x');
                    ws.onerror = () => done('error'); ws.onopen = () => done('open');
                } catch (e) { done(e.name) }
            })"""
        )
        assert elsewhere in ("SecurityError", "error")
        assert any("connect-src" in v for v in violations), violations
        await context.close()
    await client.close()
