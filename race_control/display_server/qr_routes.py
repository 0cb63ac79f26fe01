"""QR codes drawn here, never by a remote service: ``/display/{token}/qr.svg`` (the screen's own
URL, for the template's ``qr`` block) and ``/builder/qr.svg`` (the builder canvas's sample: the
builder's preview URL).  An SVG of one ``<path>`` built from the ``qrcode`` package's module
matrix, so a screen under its strict CSP (img-src 'self') shows it offline."""

from __future__ import annotations

from aiohttp import web

from race_control.display_server.pages import _HOST, _lookup

SVG_TYPE = "image/svg+xml"


def qr_matrix(text: str) -> list[list[bool]]:
    import qrcode  # (when a screen first shows a QR code: not at start-up)

    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


def qr_svg(text: str) -> str:
    """A standalone SVG (white quiet zone, black modules) encoding ``text``."""
    matrix = qr_matrix(text)
    n = len(matrix)
    d = "".join(f"M{c} {r}h1v1h-1z" for r, row in enumerate(matrix) for c, dark in enumerate(row) if dark)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" shape-rendering="crispEdges">'
        f'<rect width="{n}" height="{n}" fill="#fff"/><path d="{d}" fill="#000"/></svg>'
    )


def origin(request: web.Request) -> str:
    """The scheme and host the request came in on (a phone on the same network reaches it)."""
    host = request.host if _HOST.fullmatch(request.host) else "localhost"
    return f"{request.scheme}://{host}"


def svg_response(text: str) -> web.Response:
    return web.Response(
        text=qr_svg(text),
        content_type=SVG_TYPE,
        headers={
            # the URL in it depends on the Host asked for: private, revalidated each load
            "Cache-Control": "private, max-age=300",
            "Vary": "Host",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )


async def display_qr(request: web.Request) -> web.StreamResponse:
    _, found = _lookup(request)
    if isinstance(found, web.Response):
        return found  # 404 unknown token, 410 closed session
    return svg_response(f"{origin(request)}/display/{found.token}")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/display/{token}/qr.svg", display_qr)
