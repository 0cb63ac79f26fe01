"""Where bundled resources live (source tree, any install, or a PyInstaller bundle)."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    """The package's ``race_control/resources/`` folder: display page, demo race, OpenAPI document.

    It ships inside the package, so a checkout, an editable install and a wheel install
    (``pip install .``, pipx) all find it next to this module.  In a PyInstaller bundle it is
    unpacked under ``sys._MEIPASS/race_control/resources`` (``packaging/race-control.spec``).
    """
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "race_control" / "resources"
    return Path(__file__).resolve().parent / "resources"
