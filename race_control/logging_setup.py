"""Logging, configured once per process.  Raw timing traffic gets its own rotating file."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

_configured = False
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(log_dir: Path | None, *, verbose: bool = False, console: bool = True) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    root = logging.getLogger("race_control")
    root.setLevel(logging.DEBUG)
    root.propagate = False
    if console:
        handler = logging.StreamHandler()
        handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        app_file = logging.handlers.RotatingFileHandler(
            log_dir / "race-control.log", maxBytes=10_000_000, backupCount=5, encoding="utf-8"
        )
        app_file.setLevel(logging.INFO)
        app_file.setFormatter(logging.Formatter(FORMAT))
        app_file.addFilter(lambda record: not record.name.startswith("race_control.raw"))
        root.addHandler(app_file)
        raw = logging.getLogger("race_control.raw")
        raw.setLevel(logging.DEBUG)
        raw_file = logging.handlers.RotatingFileHandler(
            log_dir / "timing-raw.log", maxBytes=50_000_000, backupCount=10, encoding="utf-8"
        )
        raw_file.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        raw.addHandler(raw_file)
        raw.propagate = False
