"""The fonts bundled with Race Control: what a template may name, and the files screens load.

A template's ``theme.font`` and each block's ``style.font`` name one of these (or an older
stack name, ``ALIASES``); the files ship in ``resources/fonts/`` (WOFF2 from the fontsource
packages on npm, SIL Open Font License 1.1, the licence beside each) and the local server
serves them at ``/display/fonts/`` with the ``@font-face`` rules ``font_face_css`` writes, so a
screen, the builder's canvas and the hosted builder draw the same glyphs with no network.

Every stack ends in the two right-to-left faces (their ``unicode-range`` holds only Arabic or
Hebrew, so the browser fetches them only for a name written in those scripts) and then in
system families, for a script no bundled file covers (e.g. CJK).  docs/templates.md#fonts
lists them and their sizes.  The page's own copy of the stacks is ``FONT_STACKS`` in
``resources/display/rc-util.js`` (tests/templates/test_fonts.py keeps the two equal).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from race_control.paths import resources_dir
from race_control.templates.errors import TemplateInputError

URL_PREFIX = "/display/fonts/"
LATIN = (
    "U+0000-00FF,U+0131,U+0152-0153,U+02BB-02BC,U+02C6,U+02DA,U+02DC,U+0304,U+0308,U+0329,"
    "U+2000-206F,U+20AC,U+2122,U+2191,U+2193,U+2212,U+2215,U+FEFF,U+FFFD"
)
LATIN_EXT = (
    "U+0100-02BA,U+02BD-02C5,U+02C7-02CC,U+02CE-02D7,U+02DD-02FF,U+0304,U+0308,U+0329,U+1D00-1DBF,"
    "U+1E00-1E9F,U+1EF2-1EFF,U+2020,U+20A0-20AB,U+20AD-20C0,U+2113,U+2C60-2C7F,U+A720-A7FF"
)
CYRILLIC = "U+0301,U+0400-045F,U+0490-0491,U+04B0-04B1,U+2116"
GREEK = "U+0370-0377,U+037A-037F,U+0384-038A,U+038C,U+038E-03A1,U+03A3-03FF"
ARABIC = (
    "U+0600-06FF,U+0750-077F,U+0870-088E,U+0890-0891,U+0897-08E1,U+08E3-08FF,U+200C-200E,"
    "U+2010-2011,U+204F,U+2E41,U+FB50-FDFF,U+FE70-FE74,U+FE76-FEFC"
)
HEBREW = "U+0307-0308,U+0590-05FF,U+200C-2010,U+20AA,U+25CC,U+FB1D-FB4F"
SYSTEM_SANS = "'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif"


@dataclass(frozen=True)
class Face:
    file: str  # in resources/fonts/
    weight: str  # CSS font-weight: "100 900" (a variable font's range) or "600"
    unicode_range: str


@dataclass(frozen=True)
class Font:
    key: str  # what a template names
    family: str  # the CSS family its faces declare
    label: str  # the builder's font list
    use: str
    faces: tuple[Face, ...]
    fallback: str  # system families after the bundled ones
    licence: str
    choosable: bool = True  # the right-to-left faces are in every stack, not a choice of their own


def _variable(stem: str, weights: str, *subsets: tuple[str, str]) -> tuple[Face, ...]:
    return tuple(Face(f"{stem}-{name}-wght-normal.woff2", weights, rng) for name, rng in subsets)


FONTS: dict[str, Font] = {
    f.key: f
    for f in (
        Font(
            "inter",
            "Inter",
            "Inter",
            "the default: names, text, times (tabular figures); Latin with accents, Cyrillic, Greek",
            _variable(
                "inter",
                "100 900",
                ("latin", LATIN),
                ("latin-ext", LATIN_EXT),
                ("cyrillic", CYRILLIC),
                ("greek", GREEK),
            ),
            SYSTEM_SANS,
            "LICENSE-inter.txt",
        ),
        Font(
            "barlow-condensed",
            "Barlow Condensed",
            "Barlow Condensed",
            "condensed: long names in a narrow box; weights 600 and 800",
            tuple(
                Face(f"barlow-condensed-{name}-{w}-normal.woff2", w, rng)
                for w in ("600", "800")
                for name, rng in (("latin", LATIN), ("latin-ext", LATIN_EXT))
            ),
            "'Arial Narrow', 'Liberation Sans Narrow', " + SYSTEM_SANS,
            "LICENSE-barlow-condensed.txt",
        ),
        Font(
            "oswald",
            "Oswald",
            "Oswald",
            "a bold condensed display face: headlines, big numbers",
            _variable("oswald", "200 700", ("latin", LATIN), ("latin-ext", LATIN_EXT)),
            "Impact, 'Arial Narrow', " + SYSTEM_SANS,
            "LICENSE-oswald.txt",
        ),
        Font(
            "roboto-mono",
            "Roboto Mono",
            "Roboto Mono",
            "monospaced: clocks and times that never shift",
            _variable("roboto-mono", "100 700", ("latin", LATIN), ("latin-ext", LATIN_EXT)),
            "'DejaVu Sans Mono', 'Liberation Mono', Consolas, monospace",
            "LICENSE-roboto-mono.txt",
        ),
        Font(
            "noto-sans-arabic",
            "Noto Sans Arabic",
            "Noto Sans Arabic",
            "Arabic names, in every stack",
            _variable("noto-sans-arabic", "100 900", ("arabic", ARABIC)),
            SYSTEM_SANS,
            "LICENSE-noto-sans-arabic.txt",
            choosable=False,
        ),
        Font(
            "noto-sans-hebrew",
            "Noto Sans Hebrew",
            "Noto Sans Hebrew",
            "Hebrew names, in every stack",
            _variable("noto-sans-hebrew", "100 900", ("hebrew", HEBREW)),
            SYSTEM_SANS,
            "LICENSE-noto-sans-hebrew.txt",
            choosable=False,
        ),
    )
}
RTL = ("noto-sans-arabic", "noto-sans-hebrew")
DEFAULT = "inter"
# the stack names templates used before fonts were bundled: each is now a bundled font
# ("mono" was always Inter with tabular figures; "roboto-mono" is the monospaced face)
ALIASES = {"display": "inter", "body": "inter", "mono": "inter", "condensed": "barlow-condensed"}


def names() -> list[str]:
    """Every value ``theme.font`` / ``style.font`` may take."""
    return [k for k, f in FONTS.items() if f.choosable] + list(ALIASES)


def stack(name: str) -> str:
    """The CSS ``font-family`` for a font name (KeyError for an unknown one)."""
    font = FONTS[ALIASES.get(name, name)]
    if not font.choosable:
        raise KeyError(name)
    families = [font.family, *(FONTS[k].family for k in RTL)]
    return ", ".join(f"'{f}'" for f in families) + ", " + font.fallback


def check_font(value: object, where: str) -> None:
    """TemplateInputError naming ``where`` (``$.blocks[2].style.font``) for a font not bundled."""
    if value is None:
        return
    if not isinstance(value, str) or value not in names():
        shown = repr(value)[:60]
        raise TemplateInputError(f"{where}: unknown font {shown}; the bundled fonts are {', '.join(names())}")


def _font_fields(doc: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(the object holding ``font``, its JSON path) for every font a template names."""
    out: list[tuple[dict[str, Any], str]] = []
    theme = doc.get("theme")
    if isinstance(theme, dict) and "font" in theme:
        out.append((theme, "$.theme"))
    blocks = doc.get("blocks")
    for i, b in enumerate(blocks if isinstance(blocks, list) else []):
        style = b.get("style") if isinstance(b, dict) else None
        if isinstance(style, dict) and "font" in style:
            out.append((style, f"$.blocks[{i}].style"))
    return out


def check_fonts(doc: dict[str, Any]) -> None:
    """Every font ``doc`` names is bundled (TemplateInputError naming the first that is not)."""
    for holder, where in _font_fields(doc):
        check_font(holder["font"], f"{where}.font")


def drop_unknown_fonts(doc: dict[str, Any]) -> list[str]:
    """Remove (in place) every font ``doc`` names that is not bundled — the theme's or the
    page's default applies instead — and return their paths.  For documents stored or synced
    before fonts were checked; a save or an import is refused instead (``check_fonts``)."""
    dropped = []
    for holder, where in _font_fields(doc):
        value = holder["font"]
        if value is not None and (not isinstance(value, str) or value not in names()):
            del holder["font"]
            dropped.append(f"{where}.font")
    return dropped


def font_dir() -> Path:
    return resources_dir() / "fonts"


def files() -> dict[str, Face]:
    """Every bundled file by name."""
    return {face.file: face for font in FONTS.values() for face in font.faces}


@lru_cache(maxsize=64)
def _digest(name: str) -> str:
    return hashlib.sha256((font_dir() / name).read_bytes()).hexdigest()[:16]


def file_url(name: str) -> str:
    """A bundled file's address; the query is its content hash, so a screen may cache it forever."""
    return f"{URL_PREFIX}{name}?v={_digest(name)}"


def font_face_css() -> str:
    """The ``@font-face`` rules of every bundled file (served as /display/fonts/fonts.css)."""
    rules = []
    for font in FONTS.values():
        for face in font.faces:
            rules.append(
                "@font-face {\n"
                f"  font-family: '{font.family}';\n"
                "  font-style: normal;\n"
                "  font-display: swap;\n"
                f"  font-weight: {face.weight};\n"
                f"  src: url({file_url(face.file)}) format('woff2');\n"
                f"  unicode-range: {face.unicode_range};\n"
                "}\n"
            )
    return (
        "/* Race Control's bundled fonts (SIL Open Font License 1.1; licences in resources/fonts/) */\n"
        + "".join(rules)
    )


def catalog() -> list[dict[str, str]]:
    """The builder's font list: the bundled choices, then the older names they stand for."""
    out = [
        {"name": k, "label": f.label, "use": f.use, "stack": stack(k)}
        for k, f in FONTS.items()
        if f.choosable
    ]
    out += [
        {
            "name": alias,
            "label": f"{alias} (= {FONTS[key].label})",
            "use": f"older name for {key}",
            "stack": stack(alias),
        }
        for alias, key in ALIASES.items()
    ]
    return out
