"""``python -m bench._one NAME OUT [ARGS...]``: run bench NAME's ``bench(ARGS)`` and write its figures
to OUT as JSON (how ``python -m bench`` runs each bench in its own process)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path


def main() -> None:
    name, out, *argv = sys.argv[1:]
    module = importlib.import_module(f"bench.{name}")
    figures = module.bench(argv)
    Path(out).write_text(json.dumps([f.to_json() for f in figures]))


if __name__ == "__main__":
    main()
