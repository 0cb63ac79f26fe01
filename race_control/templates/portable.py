"""The portable template file: one JSON document carrying a template and its images.

::

    {"format": "race-control/template-file", "file_version": 1, "exported_at": 1780300000.0,
     "template": {...a template document, schema_version 2...},
     "images": {"<sha256>.png": "<base64 of the image's bytes>", ...}}

The template refers to each carried image as ``/display/images/<sha256>.png`` (or ``.jpg``).
``read_file`` checks everything before anything is stored (docs/templates.md#what-import-refuses):
only known fields; the template holds no script, event-handler attribute, markup,
``javascript:``/remote/other ``data:`` URL or CSS ``url()``/``@import``/``expression()``
(``safety.scan``); it is a valid template (``validate_template``: upgrade, rules, JSON Schema);
every image it shows is carried by the file (or inline as a ``data:image`` URL) and every
carried image is shown; each image decodes as PNG/JPEG/GIF/WebP within the limits and is
re-encoded at the size the template shows it (``images.prepare_image``).  The first problem is
a ``TemplateInputError`` naming its JSON path in the file and the reason.

Pure and CPU-bound (Pillow): callers run ``read_file`` and ``write_file`` in an executor.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from race_control.templates.errors import TemplateInputError
from race_control.templates.images import StoredImage, image_ref, parse_ref, prepare_image
from race_control.templates.safety import scan
from race_control.templates.service import validate_template

FILE_FORMAT = "race-control/template-file"
FILE_VERSION = 1
FILE_FIELDS = ("format", "file_version", "exported_at", "template", "images")
MAX_IMAGES = 100
_IMAGE_NAME = re.compile(r"^([0-9a-f]{64})\.(png|jpg)$")
_DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,")


@dataclass
class ImageUse:
    """One place a template shows an image: its JSON path, the source and the box it fills."""

    path: str
    src: str
    box: tuple[int, int]
    put: Callable[[str], None]  # replaces the source in the template


def image_uses(t: dict[str, Any]) -> Iterator[ImageUse]:
    """Every image source of a (valid) template: the theme's background (the canvas's size),
    image blocks and slide images (their block's box)."""
    canvas = t.get("canvas") if isinstance(t.get("canvas"), dict) else {}
    cw, ch = int(canvas.get("width", 1920)), int(canvas.get("height", 1080))
    theme = t.get("theme")
    if isinstance(theme, dict) and isinstance(theme.get("background_image"), str):
        yield ImageUse("$.theme.background_image", theme["background_image"], (cw, ch),
                       lambda v, d=theme: d.__setitem__("background_image", v))  # fmt: skip
    for i, b in enumerate(t.get("blocks") or ()):
        if not isinstance(b, dict):
            continue
        box = (max(1, int(b.get("w", cw))), max(1, int(b.get("h", ch))))
        if b.get("type") == "image" and isinstance(b.get("src"), str):
            yield ImageUse(f"$.blocks[{i}].src", b["src"], box, lambda v, d=b: d.__setitem__("src", v))
        if b.get("type") == "slides" and isinstance(b.get("items"), list):
            for j, item in enumerate(b["items"]):
                if isinstance(item, dict) and isinstance(item.get("image"), str):
                    yield ImageUse(f"$.blocks[{i}].items[{j}].image", item["image"], box,
                                   lambda v, d=item: d.__setitem__("image", v))  # fmt: skip


def write_file(template: dict[str, Any], stored: dict[str, StoredImage]) -> dict[str, Any]:
    """The portable file of ``template`` (its id and version are the store's: left out) with the
    stored images it shows (``stored``: by hash).  An inline ``data:image`` source stays inline
    (an import re-encodes it like a carried one).  TemplateInputError if the template shows an
    image the file cannot carry (another path on this server, a stored image that is missing)."""
    doc = {k: v for k, v in copy.deepcopy(template).items() if k not in ("id", "version")}
    images: dict[str, str] = {}
    for use in image_uses(doc):
        ref = parse_ref(use.src)
        if ref is None:
            if _DATA_URL.match(use.src):
                continue
            raise TemplateInputError(
                f"{use.path}: {use.src[:100]!r} is a path on this server, which a portable file cannot "
                "carry; pick the image again in the template editor (it is then stored with the template)"
            )
        img = stored.get(ref[0])
        if img is None:
            raise TemplateInputError(f"{use.path}: image {ref[0]} is not stored on this computer")
        images[f"{img.sha256}.{img.ext}"] = base64.b64encode(img.data).decode("ascii")
    return {
        "format": FILE_FORMAT,
        "file_version": FILE_VERSION,
        "exported_at": round(time.time(), 3),
        "template": doc,
        "images": images,
    }


def read_file(body: object) -> tuple[dict[str, Any], list[StoredImage]]:
    """The template (its image sources pointing at the re-encoded images) and those images, from
    a portable file; TemplateInputError naming the first problem (nothing is stored here)."""
    if not isinstance(body, dict):
        raise TemplateInputError(f"$: a template file must be a JSON object ({', '.join(FILE_FIELDS)})")
    unknown = sorted(str(k)[:40] for k in body if k not in FILE_FIELDS)
    if unknown:
        raise TemplateInputError(
            f"$: unknown field(s) {', '.join(map(repr, unknown[:10]))} in a template file; known: "
            + ", ".join(FILE_FIELDS)
        )
    if body.get("format") != FILE_FORMAT:
        raise TemplateInputError(
            f"$.format: must be {FILE_FORMAT!r} (a file from GET /api/templates/{{id}}/export)"
        )
    fv = body.get("file_version")
    if isinstance(fv, bool) or not isinstance(fv, int) or not 1 <= fv <= FILE_VERSION:
        raise TemplateInputError(f"$.file_version: must be a whole number from 1 to {FILE_VERSION}")
    template, carried = body.get("template"), body.get("images", {})
    if not isinstance(template, dict):
        raise TemplateInputError("$.template: must be a template (a JSON object)")
    if not isinstance(carried, dict) or len(carried) > MAX_IMAGES:
        raise TemplateInputError(f"$.images: must be an object of at most {MAX_IMAGES} images (name: base64)")
    scan(template, "$.template")
    try:
        clean = validate_template(template)
    except TemplateInputError as exc:
        raise TemplateInputError(f"$.template: {exc}") from None
    clean.pop("id", None)
    clean.pop("version", None)
    raw = _carried_images(carried)
    uses = list(image_uses(clean))
    # each distinct source image (a carried one by name, an inline one by its bytes) is made once,
    # at the largest box the template shows it in
    key_of: list[str] = []
    boxes: dict[str, tuple[int, int]] = {}
    where: dict[str, str] = {}
    for use in uses:
        at = f"$.template{use.path[1:]}"
        ref = parse_ref(use.src)
        if ref is not None:
            key = f"{ref[0]}.{ref[1]}"
            if key not in raw:
                raise TemplateInputError(f"{at}: refused: the file does not carry image {key}")
            where.setdefault(key, f"$.images[{key!r}]")
        elif _DATA_URL.match(use.src):
            try:
                data = base64.b64decode(use.src.split(",", 1)[1], validate=True)
            except (binascii.Error, ValueError):
                raise TemplateInputError(f"{at}: refused: the data: URL is not valid base64") from None
            key = "inline:" + hashlib.sha256(data).hexdigest()
            raw.setdefault(key, data)
            where.setdefault(key, at)
        else:
            raise TemplateInputError(
                f"{at}: refused: {use.src[:100]!r} is not an image the file carries "
                "(only carried images and data:image URLs; a path or URL could reach another server)"
            )
        key_of.append(key)
        old = boxes.get(key, (0, 0))
        boxes[key] = (max(old[0], use.box[0]), max(old[1], use.box[1]))
    unused = sorted(set(raw) - set(boxes))
    if unused:
        raise TemplateInputError(f"$.images[{unused[0]!r}]: refused: the template does not show this image")
    made = {key: prepare_image(data, boxes[key], where[key]) for key, data in raw.items()}
    for use, key in zip(uses, key_of, strict=True):
        use.put(made[key].ref)
    images = {img.sha256: img for img in made.values()}
    return validate_template(clean), list(images.values())


def _carried_images(carried: dict[str, Any]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name, data in carried.items():
        where = f"$.images[{str(name)[:80]!r}]"
        if not _IMAGE_NAME.match(str(name)):
            raise TemplateInputError(
                f"{where}: refused: an image's name must be <sha256>.png or <sha256>.jpg"
            )
        if not isinstance(data, str):
            raise TemplateInputError(f"{where}: must be the image's bytes in base64 (text)")
        try:
            out[name] = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise TemplateInputError(f"{where}: refused: not valid base64") from None
    return out


__all__ = ["FILE_FORMAT", "image_ref", "read_file", "write_file"]
