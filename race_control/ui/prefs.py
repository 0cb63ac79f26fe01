"""Desktop-only preferences kept outside the data dir: which data dir to open.

The data dir holds ``settings.json``, so the choice of data dir itself must live
elsewhere: ``<user config dir>/race-control/desktop.json``.  ``--data-dir`` and
``RACE_CONTROL_DATA_DIR`` still win (config.py's order).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import platformdirs

ENV_PREFS = "RACE_CONTROL_DESKTOP_PREFS"  # tests point this at a tmp file


def prefs_path() -> Path:
    env = os.environ.get(ENV_PREFS)
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir("race-control", "RaceControl")) / "desktop.json"


def load_prefs() -> dict[str, object]:
    try:
        data = json.loads(prefs_path().read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_prefs(**values: object) -> None:
    path = prefs_path()
    data = load_prefs()
    data.update(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2), "utf-8")
    tmp.replace(path)


def preferred_data_dir() -> Path | None:
    value = load_prefs().get("data_dir")
    return Path(str(value)).expanduser() if value else None
