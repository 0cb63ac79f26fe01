"""Every benchmark in one command: ``python -m bench`` prints one table (what, figure, target, ratio,
pass/fail) and exits 1 if any figure missed its target or any bench failed.

Options: ``--only latency,ingest`` runs some of them; ``--smoke`` runs each at a tiny size so the
whole set finishes in well under a minute and only proves every bench still works (timings are
shown but not judged, only yes/no checks such as "every finisher delivered" are); ``--json FILE``
writes the figures (and each bench's exit status) as JSON; ``--jobs N`` runs N smoke benches
at once (default 6; a full run is always one bench at a time); ``--verbose`` prints each bench's own
report as it ends.  Each bench runs in its own process (``python -m bench._one``) with the same
options as its documented command (docs/benchmarks.md), so one bench's memory or state cannot
colour another's figures.  central_sync and relay_screens need the PostgreSQL on 127.0.0.1:5432
(``RACE_CONTROL_TEST_PG``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.figures import Figure


@dataclass(frozen=True)
class Bench:
    name: str
    full: tuple[str, ...]  # the documented command's options (defaults = the targets' setup)
    smoke: tuple[str, ...]  # a size that finishes in seconds


BENCHES = (
    Bench("latency", (), ("--sessions", "2", "--screens", "2", "--rate", "100", "--duration", "1")),
    Bench("ingest", (), ("--reads", "2000", "--conns", "2")),
    Bench("screens", (), ("--screens", "20", "--reads", "5", "--rate", "50", "--workers", "1")),
    Bench("sessions", (), ("--sessions", "10", "--workers", "1")),
    Bench("slow_screen", (), ("--screens", "2", "--rate", "100", "--duration", "1", "--no-baseline")),
    Bench("urls", (), ("--tokens", "1000", "--sessions", "50")),
    Bench("replay", (), ("--screens", "1", "--folders", "9K,19K")),
    Bench("central_sync", (), ("--reads", "1000", "--participants", "100")),
    Bench(
        "relay_screens",
        (),
        ("--screens", "20", "--batches", "2", "--per-batch", "2", "--interval", "0.2", "--workers", "1"),
    ),
    Bench("providers_sync", (), ("--participants", "2500", "--changes", "50")),
    Bench("csv_import", (), ("--rows", "500")),
    Bench("history_export", (), ("--reads", "2000")),
    Bench("storage", (), ("--reads", "3000", "--sessions", "1,2", "--queries", "3")),
    Bench("stalls", (), ("--reads", "2000", "--import-reads", "1000", "--pause", "0.2")),
    Bench("restart", (), ("--sizes", "1000", "--sessions", "2", "--limit", "100", "--no-floor")),
    Bench(
        "soak",
        (),
        (
            "--reads",
            "2000",
            "--sessions",
            "2",
            "--screens",
            "4",
            "--workers",
            "1",
            "--duration",
            "2",
            "--race-hours",
            "0.1",
        ),
    ),
)
NAMES = tuple(b.name for b in BENCHES)


def run_one(b: Bench, smoke: bool, verbose: bool, timeout: float) -> tuple[list[Figure], str]:
    """Run one bench in its own process; its figures, and an error ("" when it ended well)."""
    argv = b.smoke if smoke else b.full
    with tempfile.TemporaryDirectory(prefix="rc-bench-all-") as tmp:
        out = Path(tmp) / "figures.json"
        cmd = [sys.executable, "-m", "bench._one", b.name, str(out), *argv]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=os.environ)
        except subprocess.TimeoutExpired:
            return [], f"timed out after {timeout:g} s"
        if verbose or proc.returncode:
            sys.stderr.write(proc.stdout + proc.stderr)
        if proc.returncode or not out.exists():
            tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            return [], f"exit status {proc.returncode}: {tail}"
        figures = [Figure(**f) for f in json.loads(out.read_text())]
    if smoke:  # tiny sizes: a timing means nothing, a yes/no check still does
        figures = [f if f.target == "yes" else Figure(**{**f.to_json(), "passed": None}) for f in figures]
    return figures, ""


def fmt_value(f: Figure) -> str:
    v = f.value
    text = f"{v:,.0f}" if abs(v) >= 100 or v == int(v) else f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"
    return f"{text} {f.unit}".strip()


def table(rows: list[tuple[str, str, str, str, str]]) -> str:
    head = ("what", "figure", "target", "ratio", "result")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--only", help=f"comma-separated, of: {', '.join(NAMES)}")
    p.add_argument(
        "--smoke", action="store_true", help="tiny sizes: proves each bench works, judges no timing"
    )
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--verbose", action="store_true", help="print each bench's own report")
    p.add_argument("--jobs", type=int, default=None, help="benches at once, smoke only (default 6 smoke, 1)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per bench (default 120 smoke, 1800)")
    a = p.parse_args(argv)
    chosen = list(BENCHES)
    if a.only:
        wanted = [n.strip() for n in a.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in NAMES]
        if unknown or not wanted:
            p.error(
                f"--only: unknown bench {', '.join(unknown) or '(none given)'}; known: {', '.join(NAMES)}"
            )
        chosen = [b for b in BENCHES if b.name in wanted]
    timeout = a.timeout or (120.0 if a.smoke else 1800.0)
    jobs = a.jobs or (6 if a.smoke else 1)
    if jobs > 1 and not a.smoke:
        p.error("--jobs > 1 only with --smoke: benches side by side would time each other")
    rows: list[tuple[str, str, str, str, str]] = []
    results: list[dict[str, Any]] = []
    failed = False
    started = time.perf_counter()

    def timed(b: Bench) -> tuple[list[Figure], str, float]:
        t0 = time.perf_counter()
        figures, error = run_one(b, a.smoke, a.verbose, timeout)
        seconds = time.perf_counter() - t0
        print(f"{b.name}: {seconds:.1f} s{', ' + error if error else ''}", file=sys.stderr, flush=True)
        return figures, error, seconds

    with ThreadPoolExecutor(jobs) as pool:
        done = list(pool.map(timed, chosen))  # in the table's order, whatever order they end in
    for b, (figures, error, seconds) in zip(chosen, done, strict=True):
        if error or not figures:
            failed = True
            message = error or "no figures"
            rows.append((b.name, "-", "-", "", f"ERROR: {message[:90]}{'...' if len(message) > 90 else ''}"))
        for f in figures:
            result = "-" if f.passed is None else "pass" if f.passed else "FAIL"
            failed |= f.passed is False
            ratio = "" if f.ratio is None else f"{f.ratio:.2f}x"
            rows.append((f"{f.bench}: {f.what}", fmt_value(f), f.target, ratio, result))
        results.append(
            {"bench": b.name, "seconds": seconds, "error": error, "figures": [f.to_json() for f in figures]}
        )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(table(rows))
    mode = "smoke (timings not judged)" if a.smoke else "full"
    print(f"{len(chosen)} benches, {mode}, {time.perf_counter() - started:.0f} s; load average {load}")
    if a.json:
        Path(a.json).write_text(
            json.dumps({"smoke": a.smoke, "load_average": os.getloadavg(), "benches": results}, indent=1)
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
