"""What an imported template may not hold: anything that could run script or reach out.

The page renders template text with ``textContent`` and image sources through a whitelist, so
none of this could run there today; an import refuses it anyway, because a template file is
shared between timers and read by other tools (the desktop preview, the relay, an editor).
``scan`` walks every key and text value and names the first offence with its JSON path
(``$.blocks[2].style.background``) and the reason; docs/templates.md#what-import-refuses.
"""

from __future__ import annotations

import re
from typing import Any

from race_control.templates.errors import TemplateInputError

# (pattern, reason) — checked on every text value, in this order
_TEXT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"<\s*/?\s*script", re.I), "script (a <script> tag)"),
    (re.compile(r"<(iframe|object|embed|link|meta|style|svg|img|a|form|base)[\s/>]", re.I), "markup (an HTML tag)"),
    (re.compile(r"\bon[a-z]{3,}\s*=", re.I), "an event-handler attribute (on...=)"),
    (re.compile(r"(java|vb|live)script\s*:", re.I), "a javascript: URL"),
    (re.compile(r"\burl\s*\(", re.I), "a CSS url()"),
    (re.compile(r"@import\b", re.I), "a CSS @import"),
    (re.compile(r"\bexpression\s*\(", re.I), "a CSS expression()"),
    (re.compile(r"-moz-binding|behavior\s*:", re.I), "a CSS binding"),
    (re.compile(r"^\s*(//|\\\\)|^\s*[a-z][a-z0-9+.\-]*:\s*//|^\s*(blob|filesystem|file|ftp|ws|wss):", re.I),
     "a remote URL"),
    (re.compile(r"^\s*data:(?!image/(png|jpeg|gif|webp);base64,)", re.I), "a data: URL that is not a PNG, JPEG, GIF or WebP image"),
)  # fmt: skip
_HANDLER_KEY = re.compile(r"^on[a-z]+$", re.I)


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{parent}.{key}"
    return f"{parent}[{key[:40]!r}]"


def scan(value: Any, where: str = "$") -> None:
    """TemplateInputError naming the JSON path and reason of the first unsafe key or text."""
    todo: list[tuple[Any, str]] = [(value, where)]
    while todo:
        v, at = todo.pop()
        if isinstance(v, dict):
            for k, item in v.items():
                key = str(k)
                if _HANDLER_KEY.match(key):
                    raise TemplateInputError(
                        f"{_path(at, key)}: refused: an event-handler attribute ({key[:40]})"
                    )
                reason = _text_offence(key)
                if reason:
                    raise TemplateInputError(f"{_path(at, key)}: refused: a key holding {reason}")
                todo.append((item, _path(at, key)))
        elif isinstance(v, list):
            todo.extend((item, _path(at, i)) for i, item in enumerate(v))
        elif isinstance(v, str):
            reason = _text_offence(v)
            if reason:
                raise TemplateInputError(f"{at}: refused: {reason}")


_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$")


def _text_offence(text: str) -> str | None:
    if _DATA_IMAGE.match(text):  # base64 only: nothing in it is read as text (its image is checked)
        return None
    for pattern, reason in _TEXT_RULES:
        if pattern.search(text):
            return reason
    return None
