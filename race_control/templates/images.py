"""Template images: checked, resized to what the canvas needs, re-encoded, named by content hash.

An image that enters a template from outside (a portable file, an inline ``data:`` URL of an
imported template) is decoded by Pillow, never passed through: only PNG, JPEG, GIF and WebP
are accepted (SVG never: it can carry script), at most ``MAX_IMAGE_BYTES`` and
``MAX_PIXELS``; it is shrunk to fit the largest box the template shows it in, and written
anew without any metadata — PNG (lossless; a PNG of ours decodes and re-encodes to the same
bytes, so a round trip keeps its hash), or JPEG for a large opaque photo.  The stored name is
the SHA-256 of those bytes, so one image used by many templates is stored once.

Pure functions, CPU-bound: callers run them in an executor (never on the event loop).
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from race_control.templates.errors import TemplateInputError

if TYPE_CHECKING:
    from PIL import Image

MAX_IMAGE_BYTES = 10_000_000  # one image as it arrives
MAX_PIXELS = 40_000_000  # width x height before decoding (a decompression bomb stops here)


@cache
def _pillow() -> tuple[Any, tuple[type[BaseException], ...]]:
    """Pillow's ``Image`` (imported when an image is first checked: not at start-up) and what it
    raises for bytes that are not a readable image (a bomb, a truncated or fake file)."""
    from PIL import Image, UnidentifiedImageError

    unreadable = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
                  Image.DecompressionBombError, Image.DecompressionBombWarning)  # fmt: skip
    return Image, unreadable


MAX_SIDE = 7680  # the largest canvas side a template may have
PNG_LIMIT = 1_500_000  # an opaque image whose PNG is larger is stored as JPEG
JPEG_QUALITY = 88
ACCEPTED = {"PNG": "png", "JPEG": "jpeg", "GIF": "gif", "WEBP": "webp"}
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg"}
# where screens load a stored image (public like the page itself; the name is the content hash)
IMAGE_PATH = "/display/images/"
REF_RE = re.compile(r"^/display/images/([0-9a-f]{64})\.(png|jpg)$")


@dataclass(frozen=True)
class StoredImage:
    """An image as it is stored and served: its content hash, file extension and bytes."""

    sha256: str
    ext: str  # png | jpg
    width: int
    height: int
    data: bytes

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.ext]

    @property
    def ref(self) -> str:
        return image_ref(self.sha256, self.ext)


def image_ref(sha256: str, ext: str) -> str:
    return f"{IMAGE_PATH}{sha256}.{ext}"


def parse_ref(src: object) -> tuple[str, str] | None:
    """``(sha256, ext)`` of a stored-image reference, None for anything else."""
    m = REF_RE.match(src) if isinstance(src, str) else None
    return (m.group(1), m.group(2)) if m else None


def _sniff_svg(data: bytes) -> bool:
    head = data[:1024].lstrip().lower()
    return head.startswith((b"<svg", b"<?xml", b"<!doctype svg")) or b"<svg" in head


def prepare_image(data: bytes, box: tuple[int, int], where: str) -> StoredImage:
    """``data`` decoded, shrunk to fit ``box`` (canvas pixels) and re-encoded; TemplateInputError
    naming ``where`` and the reason otherwise (not an image, SVG, too large, a bomb)."""
    if len(data) > MAX_IMAGE_BYTES:
        raise TemplateInputError(
            f"{where}: the image is {len(data):,} bytes, more than the limit of {MAX_IMAGE_BYTES:,}"
        )
    if _sniff_svg(data):
        script = re.search(rb"<script|\son[a-z]+\s*=|javascript:", data, re.IGNORECASE)
        reason = "an SVG image with script in it" if script else "an SVG image (SVG can carry script)"
        raise TemplateInputError(f"{where}: refused: {reason}; use a PNG, JPEG, GIF or WebP image")
    Image, unreadable = _pillow()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            kind = img.format or ""
            if kind not in ACCEPTED:
                raise TemplateInputError(
                    f"{where}: refused: a {kind or 'unknown'} file is not an accepted image "
                    "(PNG, JPEG, GIF or WebP)"
                )
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise TemplateInputError(
                    f"{where}: refused: the image is {w}x{h} pixels, more than {MAX_PIXELS:,} pixels"
                )
            img.seek(0)  # an animated GIF/WebP: its first frame
            img.load()
    except TemplateInputError:
        raise
    except unreadable as exc:
        raise TemplateInputError(f"{where}: refused: not a readable image ({type(exc).__name__})") from None
    return _encode(img, box)


def _encode(img: Image.Image, box: tuple[int, int]) -> StoredImage:
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    img = img.convert("RGBA" if has_alpha else "RGB")
    bw = max(1, min(MAX_SIDE, int(box[0])))
    bh = max(1, min(MAX_SIDE, int(box[1])))
    if img.width > bw or img.height > bh:
        img.thumbnail((bw, bh), _pillow()[0].Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    ext = "png"
    if not has_alpha and out.tell() > PNG_LIMIT:
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
        ext = "jpg"
    data = out.getvalue()
    return StoredImage(hashlib.sha256(data).hexdigest(), ext, img.width, img.height, data)


STORED_FORMATS = {"png": "PNG", "jpg": "JPEG"}
HASH_RE = re.compile(r"^[0-9a-f]{64}$")


def check_stored(sha256: object, ext: object, data: object, where: str) -> StoredImage:
    """An image another computer says it stored (a central ``template_images`` row), checked
    before it is stored here: the name a SHA-256 in hex, ``ext`` png or jpg, at most
    ``MAX_IMAGE_BYTES``, the bytes hashing to the name, and a PNG (png) or JPEG (jpg) that
    Pillow decodes whole within ``MAX_PIXELS`` and ``MAX_SIDE`` — never SVG, HTML or anything
    else a browser could run.  The bytes are kept as they are (re-encoding would change the
    name every template uses); width and height are the decoded image's, not the row's.
    TemplateInputError naming ``where`` and the reason otherwise."""
    if not isinstance(sha256, str) or not HASH_RE.match(sha256):
        raise TemplateInputError(f"{where}: refused: the name is not a SHA-256 in hex")
    if ext not in STORED_FORMATS:
        raise TemplateInputError(f"{where}: refused: the extension {str(ext)[:16]!r} is not png or jpg")
    if isinstance(data, memoryview | bytearray):
        data = bytes(data)
    if not isinstance(data, bytes) or not data:
        raise TemplateInputError(f"{where}: refused: no image bytes")
    if len(data) > MAX_IMAGE_BYTES:
        raise TemplateInputError(
            f"{where}: refused: the image is {len(data):,} bytes, more than the limit of {MAX_IMAGE_BYTES:,}"
        )
    if hashlib.sha256(data).hexdigest() != sha256:
        raise TemplateInputError(f"{where}: refused: the bytes do not hash to the image's name")
    if _sniff_svg(data):
        raise TemplateInputError(f"{where}: refused: an SVG image (SVG can carry script)")
    want = STORED_FORMATS[ext]
    Image, unreadable = _pillow()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.format != want:
                raise TemplateInputError(
                    f"{where}: refused: a {img.format or 'unknown'} file named .{ext} (expected {want})"
                )
            w, h = img.size
            if w * h > MAX_PIXELS or w > MAX_SIDE or h > MAX_SIDE:
                raise TemplateInputError(f"{where}: refused: the image is {w}x{h} pixels, more than allowed")
            img.load()
    except TemplateInputError:
        raise
    except unreadable as exc:
        raise TemplateInputError(f"{where}: refused: not a readable image ({type(exc).__name__})") from None
    return StoredImage(sha256, str(ext), w, h, data)
