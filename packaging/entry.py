"""PyInstaller entry point: the same ``race-control`` command as the console script."""

import sys

from race_control.cli import main

if __name__ == "__main__":
    sys.exit(main())
