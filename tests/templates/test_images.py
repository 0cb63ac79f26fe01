"""Images entering a template: decoded, shrunk to their box, re-encoded without metadata, named
by the hash of the result; anything that is not a PNG/JPEG/GIF/WebP within the limits is refused
with its reason."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from race_control.templates.errors import TemplateInputError
from race_control.templates.images import MAX_IMAGE_BYTES, parse_ref, prepare_image
from tests.templates import pictures


def test_a_png_is_shrunk_to_its_box_re_encoded_without_metadata_and_named_by_its_hash() -> None:
    src = pictures.png((1200, 600), text="<script>alert(1)</script>")
    img = prepare_image(src, (300, 300), "$.x")
    assert (img.width, img.height, img.ext) == (300, 150, "png")
    assert img.sha256 == hashlib.sha256(img.data).hexdigest()
    assert b"script" not in img.data and b"Comment" not in img.data
    decoded = Image.open(io.BytesIO(img.data))
    assert decoded.format == "PNG" and decoded.size == (300, 150) and not decoded.text
    assert parse_ref(img.ref) == (img.sha256, "png")


def test_re_encoding_our_own_png_gives_the_same_bytes_so_a_round_trip_keeps_the_hash() -> None:
    first = prepare_image(pictures.png((640, 480), (10, 20, 30, 128)), (1920, 1080), "$.x")
    again = prepare_image(first.data, (1920, 1080), "$.x")
    assert first.ext == "png" and again.sha256 == first.sha256
    small = prepare_image(pictures.png((100, 80)), (1920, 1080), "$.x")
    assert (small.width, small.height) == (100, 80)  # never enlarged


def test_a_large_opaque_photo_is_stored_as_jpeg_and_a_gif_as_its_first_frame_in_png() -> None:
    img = prepare_image(pictures.photo(), (1920, 1080), "$.x")
    assert img.ext == "jpg" and img.media_type == "image/jpeg" and (img.width, img.height) == (1440, 1080)
    assert Image.open(io.BytesIO(img.data)).format == "JPEG"
    g = prepare_image(pictures.gif(), (500, 500), "$.x")
    assert g.ext == "png" and (g.width, g.height) == (60, 40)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (pictures.SVG_SCRIPT, "SVG image with script"),
        (pictures.SVG_PLAIN, "SVG can carry script"),
        (pictures.HTML, "not a readable image"),
        (b"just some text", "not a readable image"),
        (pictures.png()[:200], "not a readable image"),  # truncated
        (pictures.huge_pixels(), "pixels"),
        (b"\x89PNG" + b"\0" * (MAX_IMAGE_BYTES + 1), "more than the limit"),
    ],
    ids=["svg-script", "svg", "html", "text", "truncated-png", "bomb", "oversized"],
)
def test_what_is_not_an_acceptable_image_is_refused_with_its_reason(data: bytes, reason: str) -> None:
    with pytest.raises(TemplateInputError, match=reason) as caught:
        prepare_image(data, (1920, 1080), "$.images['a.png']")
    assert str(caught.value).startswith("$.images['a.png']: ")


def test_a_bmp_decodes_but_is_not_an_accepted_format() -> None:
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "BMP")
    with pytest.raises(TemplateInputError, match="BMP file is not an accepted image"):
        prepare_image(out.getvalue(), (100, 100), "$.x")
