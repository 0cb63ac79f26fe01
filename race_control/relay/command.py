"""``race-control relay --database URL [--host H] [--port N]``: serve public sessions' screens
from the central database.  Logs to standard error only; writes no file anywhere."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from race_control.relay import POLL_INTERVAL

ENV_DATABASE = "RACE_CONTROL_RELAY_DATABASE"
DEFAULT_PORT = 8090


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    relay = sub.add_parser(
        "relay",
        help="serve the screens of public display sessions from the central PostgreSQL",
        description="Serve GET /display/{token} and its WebSocket for the display sessions a "
        "timing partner marked public, from the central database (LISTEN/NOTIFY plus a poll). "
        "One relay serves one partner: use the URL `central add-partner` printed. It keeps no "
        "state and writes no file: run as many as needed behind a load balancer.",
    )
    relay.add_argument(
        "--database",
        metavar="URL",
        help=f"the partner's postgresql:// URL (env {ENV_DATABASE}: keeps the password out of ps)",
    )
    relay.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    relay.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"HTTP port (default {DEFAULT_PORT}; 0 = a free port)"
    )
    relay.add_argument(
        "--poll-interval",
        type=float,
        default=POLL_INTERVAL,
        metavar="S",
        help=f"seconds between polls of the central tables when no NOTIFY came (default {POLL_INTERVAL:g})",
    )
    relay.add_argument("-v", "--verbose", action="store_true", help="log every info line")


def run(args: argparse.Namespace) -> int:
    url = args.database or os.environ.get(ENV_DATABASE, "")
    if not url:
        print(f"race-control relay: --database URL (or env {ENV_DATABASE}) is required", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"race-control relay: --port {args.port} is not a port (0-65535)", file=sys.stderr)
        return 2
    if not 0.05 <= args.poll_interval <= 3600:
        print("race-control relay: --poll-interval must be 0.05 to 3600 seconds", file=sys.stderr)
        return 2
    from race_control.central.connection import check_url
    from race_control.central.errors import CentralError

    try:
        check_url(url)
    except CentralError as exc:
        print(f"race-control relay: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return asyncio.run(_run(url, args))
    except KeyboardInterrupt:
        return 130


async def _run(url: str, args: argparse.Namespace) -> int:
    from race_control.central.errors import CentralError
    from race_control.relay.server import Relay, RelayOptions

    relay = Relay(RelayOptions(url, host=args.host, port=args.port, poll_interval=args.poll_interval))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await relay.start()
    except CentralError as exc:
        print(f"race-control relay: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        await relay.stop()
        print(f"race-control relay: cannot listen: {exc}", file=sys.stderr)
        return 2
    print(f"Race Control relay serving {relay.url}/display/<token> (partner {relay.partner_id})", flush=True)
    try:
        await stop.wait()
    finally:
        await relay.stop()
        print("Race Control relay stopped.", flush=True)
    return 0
