"""Real image files made with Pillow for the template tests (and files that only pretend to be)."""

from __future__ import annotations

import base64
import io
import os

from PIL import Image, PngImagePlugin


def png(
    size: tuple[int, int] = (400, 300), color: tuple[int, ...] = (200, 30, 30), *, text: str = ""
) -> bytes:
    """A PNG; ``text`` goes into a tEXt chunk (metadata a re-encode must drop)."""
    img = Image.new("RGBA" if len(color) == 4 else "RGB", size, color)
    for x in range(0, size[0], 9):  # some detail, so it is not one flat colour
        img.putpixel((x, (x * 7) % size[1]), (x % 256, 90, 160) + ((255,) if len(color) == 4 else ()))
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Comment", text)
    out = io.BytesIO()
    img.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def photo(size: tuple[int, int] = (1600, 1200)) -> bytes:
    """An opaque noisy JPEG (a photo: too large as PNG, so it is stored as JPEG)."""
    img = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95)
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    frames = [Image.new("P", (60, 40), i) for i in (1, 2)]
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    return out.getvalue()


def huge_pixels() -> bytes:
    """A small file that decodes to 8000 x 6000 pixels (a decompression bomb in miniature)."""
    out = io.BytesIO()
    Image.new("1", (8000, 6000), 0).save(out, "PNG")
    return out.getvalue()


def data_url(data: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


SVG_SCRIPT = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
SVG_PLAIN = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><rect width="5" height="5"/></svg>'
HTML = b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>"
