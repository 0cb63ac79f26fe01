"""Where bundled resources live (source tree, editable install, or a PyInstaller bundle)."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    """The top-level ``resources/`` folder: display page, demo race, OpenAPI document.

    In a PyInstaller bundle it is unpacked next to the executable (``sys._MEIPASS``);
    from a checkout or an editable install it sits beside the ``race_control`` package.
    """
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"
