"""``race-control simulate``: its argparse options and the wrapper that reports and exits.

The runner (``simulator.simulate``) stays free of argparse and printing, so the
demo, the benches and the tests call it directly; only the command line turns
its result and errors into a summary line and an exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys

from race_control.timing.protocols.chronotrack_time import TIME_FORMATS
from race_control.timing.protocols.ctp01_settings import DEFAULT_PORT
from race_control.timing.simulator.playback import simulate
from race_control.timing.simulator.sources import DEFAULT_TZ, SimulationError, parse_source_arg

__all__ = ["add_simulate_arguments", "run_simulate_command"]


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``race-control simulate``."""
    parser.add_argument(
        "sources", nargs="+", metavar="FILE", help="controller folder, .csv/.mrk, .ctp; LOC=path"
    )
    parser.add_argument("--host", default="127.0.0.1", help="CTP01 server host (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"CTP01 server port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="replay speed factor; 0 = as fast as possible"
    )
    parser.add_argument(
        "--tz", default=DEFAULT_TZ, help="zone to render controller epochs in (default UTC = as recorded)"
    )
    parser.add_argument(
        "--time-format",
        choices=TIME_FORMATS,
        default=None,
        help="force a time format (default: what the server requests)",
    )
    parser.add_argument(
        "--date", type=dt.date.fromisoformat, default=None, help="only play reads of this day (YYYY-MM-DD)"
    )
    parser.add_argument(
        "--max-gap", type=float, default=30.0, help="longest pause in wall seconds (default 30)"
    )
    parser.add_argument(
        "--fast-until",
        type=dt.time.fromisoformat,
        default=None,
        metavar="HH:MM:SS",
        help="send every read recorded before this time of day at once, then pace the rest",
    )
    parser.add_argument("--program", default="SimpleClient", help="client program name in the greeting")
    parser.add_argument("--program-version", default="1.2.3", help="client version in the greeting")
    parser.add_argument("--event-name", default="Race Control demo")
    parser.add_argument("--event-id", default="1")
    parser.add_argument("--connection-id", default="race-control-simulator")
    parser.add_argument("--user", default=None)
    parser.add_argument(
        "--stall-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="give up on a connection after S seconds with no sign of life from the server "
        "(a server that paused reading but still pings is waited for; default 60)",
    )
    parser.add_argument(
        "--max-retries",
        type=int,
        default=20,
        metavar="N",
        help="reconnect attempts in a row before giving up (default 20)",
    )
    parser.add_argument(
        "--password",
        default=os.environ.get("RACE_CONTROL_CTP01_PASSWORD"),
        help="password (default: $RACE_CONTROL_CTP01_PASSWORD)",
    )


def run_simulate_command(args: argparse.Namespace) -> int:
    """Run ``simulate`` from parsed arguments; 0 = every read confirmed by the server, 1 = some were
    not (the summary counts them), 2 = bad input or no server, 130 = interrupted."""
    sources = [parse_source_arg(s) for s in args.sources]
    for s in sources:
        if not s.path.exists():
            print(f"race-control simulate: error: no such file or folder: {s.path}", file=sys.stderr)
            return 2
    try:
        result = asyncio.run(
            simulate(
                args.host,
                args.port,
                sources,
                speed=args.speed,
                tz=args.tz,
                time_format=args.time_format,
                date=args.date,
                max_gap=args.max_gap,
                fast_until=args.fast_until,
                program=args.program,
                version=args.program_version,
                event_name=args.event_name,
                event_id=args.event_id,
                connection_id=args.connection_id,
                user=args.user,
                password=args.password,
                stall_timeout=args.stall_timeout,
                max_retries=args.max_retries,
            )
        )
    except SimulationError as exc:
        print(f"race-control simulate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("race-control simulate: interrupted", file=sys.stderr)
        return 130
    print(
        f"simulate: sent {result.reads} reads and {result.guns} gun times from {len(sources)} source(s) "
        f"({', '.join(result.locations) or 'no locations'}) to {args.host}:{args.port} "
        f"in {result.elapsed:.1f} s; "
        f"{result.sent} lines written, {result.connections} connection(s), {result.undelivered} undelivered, "
        f"{len(result.bad_rows)} bad rows"
    )
    if result.undelivered:
        why = f" ({result.gave_up})" if result.gave_up else ""
        print(
            f"race-control simulate: {result.undelivered} reads were not confirmed by the server{why}",
            file=sys.stderr,
        )
        return 1
    return 0
