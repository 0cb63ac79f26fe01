"""Entry point of the desktop app (PySide6 + qasync).  The full workflow lands with issue #5."""

from __future__ import annotations

import argparse
import sys


def run_gui(args: argparse.Namespace) -> int:
    print(
        "race-control: the desktop app is not built yet (issue #5). "
        "Use `race-control serve` (headless) or `race-control demo`.",
        file=sys.stderr,
    )
    return 2
