"""The ``race-control`` command: the desktop app, ``serve``, ``demo`` and ``simulate``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from race_control import __version__
from race_control.config import ENV_API_TOKEN, ENV_DATA_DIR, load_settings, timing_exposure
from race_control.errors import RaceControlError
from race_control.instance import DataDirInUse, held_by


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is outside 0-65535")
    return value


def _decoder(text: str) -> str:
    from race_control.timing.transports.raceresult_connector import parse_decoder_address

    try:
        parse_decoder_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def _network(text: str) -> str:
    from race_control.config import timing_networks

    try:
        timing_networks([text])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def _server_args(p: argparse.ArgumentParser, *, http_default: int | None, timing_default: int | None) -> None:
    p.add_argument(
        "--data-dir", type=Path, help=f"where data lives (default: platform data dir, env {ENV_DATA_DIR})"
    )
    p.add_argument("--host", help="address to listen on (default 0.0.0.0: the whole LAN)")
    p.add_argument(
        "--http-port", type=_port, default=http_default, help="display + API port; 0 picks a free one"
    )
    p.add_argument("--timing-port", type=_port, default=timing_default, help="CTP01 port; 0 picks a free one")
    p.add_argument(
        "--public-host", help="address to put in display URLs (default: this machine's LAN address)"
    )
    p.add_argument(
        "--decoder",
        action="append",
        type=_decoder,
        metavar="HOST[:PORT]",
        help="connect to a RACE RESULT decoder (port 3601 unless given); repeat for more",
    )
    p.add_argument(
        "--ctp01-auth",
        choices=("none", "plaintext", "hmac-sha1", "hmac-md5", "seed-sha1", "seed-md5"),
        help="ask ChronoTrack clients to authenticate (accounts: env RACE_CONTROL_CTP01_USERS=user:password)",
    )
    p.add_argument(
        "--timing-allow",
        action="append",
        type=_network,
        metavar="CIDR",
        help="accept timing clients only from this network (e.g. 192.168.1.0/24, or one address); "
        "repeat for more (default: any, or settings.json timing_allow)",
    )
    p.add_argument(
        "--central-url",
        metavar="URL",
        help="sync to the timing company's central PostgreSQL (postgresql://login:password@host:port/db, "
        "the URL `central add-partner` printed; env RACE_CONTROL_CENTRAL_URL; default: none, no sync)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log to the console too")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="race-control",
        description="Race Control: chip reads in, live finish-line displays out. "
        "Without a command it opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"race-control {__version__}")
    parser.add_argument(
        "--data-dir",
        dest="gui_data_dir",
        metavar="DIR",
        type=Path,
        help="desktop app: where data lives (default: the folder chosen in Settings, else the platform data dir)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="run headless: display server, CTP01 timing listener and local API",
        description="Run headless. Writes DIR/server.json once listening and DIR/api-token "
        f"(mode 0600; env {ENV_API_TOKEN} overrides). Stop with Ctrl-C or SIGTERM.",
    )
    _server_args(serve, http_default=None, timing_default=None)
    demo = sub.add_parser(
        "demo",
        help="serve a bundled sample race replayed by a simulated ChronoTrack client",
        description="Serve plus a bundled sample event and roster, with a built-in ChronoTrack "
        "SimpleClient replaying a real recorded 2021 race; prints the display URLs. No network, no account.",
    )
    _server_args(demo, http_default=0, timing_default=0)
    demo.add_argument("--speed", type=float, default=20.0, help="replay speed (default 20x real time)")
    demo.add_argument(
        "--duration", type=float, default=0, help="stop after N seconds (default: run until Ctrl-C)"
    )
    sim = sub.add_parser(
        "simulate",
        help="act as a ChronoTrack CTP01 client and play recorded reads into a server",
        description="Act as a ChronoTrack SimpleClient: connect to a CTP01 server and play controller "
        "files (TO~ .csv, .mrk, whole controller folders) or recorded CT01_33 streams (.ctp).",
    )
    try:
        from race_control.timing.simulator.cli import add_simulate_arguments
    except ImportError:  # pragma: no cover - during development only
        pass
    else:
        add_simulate_arguments(sim)
    _backup_parsers(sub)
    from race_control.central.command import add_parsers as add_central_parsers

    add_central_parsers(sub)
    from race_control.relay.command import add_parser as add_relay_parser

    add_relay_parser(sub)
    from race_control.providers.command import add_parser as add_providers_parser

    add_providers_parser(sub)
    return parser


def _backup_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    data_dir_help = f"the data dir (default: platform data dir, env {ENV_DATA_DIR})"
    backup = sub.add_parser(
        "backup",
        help="write a backup of the data dir to FILE (works while Race Control runs)",
        description="Write one file (a zip) with a consistent snapshot of the store (events, rosters, "
        "reads, display sessions and their finishers, templates with their images), settings.json and "
        "a manifest (app version, schema revision, counts, checksums). Safe while `serve` or the "
        "desktop app runs on DIR and takes reads. The API token is not in it. Race Control also "
        "keeps automatic backups in DIR/backups/ (settings backup_interval, backup_keep).",
    )
    backup.add_argument("--data-dir", metavar="DIR", type=Path, help=data_dir_help)
    backup.add_argument(
        "file", metavar="FILE", type=Path, help="the backup file to write (replaced if it exists)"
    )
    restore = sub.add_parser(
        "restore",
        help="replace the data dir's store by a backup's (Race Control must be closed)",
        description="Check FILE (manifest, checksums, SQLite integrity, a schema this version knows), "
        "then put its database in DIR. The replaced database is kept as "
        "DIR/race-control.sqlite3.replaced-<time> (with its -wal/-shm). DIR keeps its own "
        "settings.json unless --with-settings. Refuses (exit 2, nothing changed) while Race Control "
        "runs on DIR or if FILE is not a good backup. The next start upgrades an older backup's schema.",
    )
    restore.add_argument("--data-dir", metavar="DIR", type=Path, help=data_dir_help)
    restore.add_argument(
        "--with-settings",
        action="store_true",
        help="also restore the backup's settings.json (ports, addresses, time zone); the current one is kept aside",
    )
    restore.add_argument("file", metavar="FILE", type=Path, help="a file written by `race-control backup`")


def _backup_command(args: argparse.Namespace) -> int:
    """``backup`` / ``restore``: exit 2 with a message naming the problem, never a traceback."""
    from race_control.config import default_data_dir
    from race_control.store.backup import BackupError, create_backup, restore_backup

    data_dir = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    try:
        if args.command == "backup":
            manifest = create_backup(data_dir, args.file)
            print(f"Backed up {data_dir} to {args.file}: {_summary(manifest)}", flush=True)
            return 0
        from race_control.instance import DataDirInUse, InstanceLock

        try:
            with InstanceLock(data_dir):  # no instance runs, and none starts while we restore
                result = restore_backup(args.file, data_dir, with_settings=args.with_settings, locked=True)
        except DataDirInUse as exc:
            print(f"race-control: cannot restore: {exc}", file=sys.stderr)
            return 2
    except BackupError as exc:
        print(f"race-control: {exc}", file=sys.stderr)
        return 2
    print(f"Restored {args.file} into {data_dir}: {_summary(result.manifest)}", flush=True)
    for path in result.kept_aside:
        print(f"  kept the replaced {path.name.split('.replaced-')[0]} as {path}", flush=True)
    return 0


def _summary(manifest: dict[str, object]) -> str:
    counts = manifest.get("counts")
    parts = [f"{n} {name}" for name, n in counts.items()] if isinstance(counts, dict) else []
    return ", ".join([*parts, f"schema {manifest.get('schema_revision')}, made {manifest.get('created_at')}"])


async def _serve(args: argparse.Namespace) -> int:
    from race_control.heap import freeze_startup_heap, pause_collections, resume_collections

    pause_collections()  # the imports and the start-up make what lives all run (heap.py)
    try:
        return await _run_server(args, freeze_startup_heap)
    finally:
        resume_collections()  # (a start-up that failed; after freeze_startup_heap: on already)


async def _run_server(args: argparse.Namespace, freeze_startup_heap: Callable[[], int]) -> int:
    from race_control.app import RaceControl

    settings = load_settings(
        args.data_dir,
        host=args.host,
        http_port=args.http_port,
        timing_port=args.timing_port,
        public_host=args.public_host,
        decoders=tuple(args.decoder) if args.decoder else None,
        ctp01_authentication=args.ctp01_auth,
        timing_allow=tuple(args.timing_allow) if args.timing_allow else None,
        central_url=args.central_url,
    )
    rc = RaceControl(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await rc.start()
    except OSError as exc:
        await rc.stop()
        print(f"race-control: cannot listen: {exc}", file=sys.stderr)
        return 2
    except RaceControlError as exc:  # data dir in use, database damaged or newer, storage failed
        await rc.stop()
        print(f"race-control: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a setting that cannot work (e.g. authentication without accounts)
        await rc.stop()
        print(f"race-control: {exc}", file=sys.stderr)
        return 2
    freeze_startup_heap()  # full collections walk only what was made after start-up (heap.py)
    from race_control.stall_watch import StallWatch

    watch = StallWatch(settings.log_dir / "stalls.log")  # stacks of a stalled loop
    watch.start()
    print(f"Race Control {__version__} serving {rc.http_url}  (timing port {rc.timing_port})", flush=True)
    print(f"Data: {settings.data_dir}  API token: {settings.data_dir / 'api-token'}", flush=True)
    if hint := timing_exposure(settings):
        print(f"Warning: {hint}", file=sys.stderr, flush=True)
    try:
        if args.command == "demo":
            from race_control.demo import run_demo

            await run_demo(rc, args, stop)
        else:
            await stop.wait()
    finally:
        await watch.stop()  # stopping takes its time (the backup): not a stall
        await rc.stop()
        print("Race Control stopped; all reads stored.", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("serve", "demo"):
        from race_control.logging_setup import configure_logging

        data_dir = args.data_dir or load_settings().data_dir
        running = held_by(Path(data_dir).expanduser())
        if running is not None:  # say so before even the log files are opened (start checks again)
            print(f"race-control: {DataDirInUse(Path(data_dir), running)}", file=sys.stderr)
            return 2
        configure_logging(Path(data_dir) / "logs", verbose=args.verbose)
        try:
            return asyncio.run(_serve(args))
        except KeyboardInterrupt:
            return 130
    if args.command in ("backup", "restore"):
        return _backup_command(args)
    if args.command == "central":
        from race_control.central.command import run as run_central

        return run_central(args)
    if args.command == "relay":
        from race_control.relay.command import run as run_relay

        return run_relay(args)
    if args.command == "providers":
        from race_control.config import default_data_dir
        from race_control.providers.command import run as run_providers

        chosen = args.providers_data_dir
        return run_providers(args, Path(chosen).expanduser() if chosen else default_data_dir())
    if args.command == "simulate":
        from race_control.timing.simulator.cli import run_simulate_command

        return run_simulate_command(args)
    from race_control.ui.main import run_gui

    return run_gui(args)


if __name__ == "__main__":
    sys.exit(main())
