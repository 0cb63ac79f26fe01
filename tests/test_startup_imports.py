"""A start-up without central sync imports nothing only a later action needs (issue #13: the
imports are a third of a restart): the HTTP client of the providers, PostgreSQL, the central
schema, argon2, the keyring, Pillow, the QR codes and the metrics library wait for first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LATER = (
    "httpx",  # a provider sync
    "psycopg2",  # central sync, a central login
    "sqlalchemy.dialects.postgresql",
    "race_control.central.schema",
    "race_control.sync.worker",
    "argon2",  # a central login
    "keyring",  # a provider's or central's secret
    "PIL",  # a template image
    "qrcode",  # a screen's QR code
    "prometheus_client",  # /metrics
)

CODE = """
import asyncio, sys
from pathlib import Path
from race_control.app import RaceControl
from race_control.cli import build_parser
from race_control.config import load_settings

build_parser()  # as `race-control serve` does: every command's parser (the providers' too)

async def main():
    rc = RaceControl(load_settings(Path(sys.argv[1]), host="127.0.0.1", http_port=0, timing_port=0))
    await rc.start()
    try:
        print(" ".join(m for m in sys.argv[2:] if m in sys.modules))
    finally:
        await rc.stop()

asyncio.run(main())
"""


def start_up(data: Path) -> list[str]:
    """What of ``LATER`` a child process imported once ``RaceControl`` served on ``data``."""
    out = subprocess.run(
        [sys.executable, "-c", CODE, str(data), *LATER],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout.split()


def test_a_restart_imports_only_what_it_uses(tmp_path: Path) -> None:
    start_up(tmp_path / "data")  # the first start makes the database (Alembic: more imports)
    assert start_up(tmp_path / "data") == []
