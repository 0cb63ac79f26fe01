"""``race-control providers …``: provider accounts, their events, and a roster sync preview or
apply — through the local API of the Race Control running on the data dir (``serve`` or the
desktop app), so the one running instance does the work (the CLI never opens its store).

    race-control providers [--data-dir DIR] list
    race-control providers [--data-dir DIR] accounts
    race-control providers [--data-dir DIR] add PROVIDER LABEL [--base-url URL]   (credentials: stdin JSON)
    race-control providers [--data-dir DIR] events ACCOUNT_ID
    race-control providers [--data-dir DIR] sync EVENT_ID --account ID --provider-event ID [--apply] [--full]
    race-control providers [--data-dir DIR] results ACCOUNT_ID EVENT_ID [--json] [--event LOCAL_ID]
        [--race RACE] [--login EMAIL --preset NAME]   (Copernico: its preset export)

Each prints JSON (the API's answer) on standard output (``results``: a table, JSON with ``--json``); an error exits 2 with the API's message
on standard error.  Credentials are read from standard input (a JSON object), never from the
command line (which other accounts can see in ``ps``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

# the results table: (heading, key of a result)
RESULT_COLUMNS = (
    ("Place", "place"),
    ("Bib", "bib"),
    ("First", "first_name"),
    ("Last", "last_name"),
    ("Race", "race_name"),
    ("Division", "division"),
    ("Clock", "clock_time"),
    ("Chip", "chip_time"),
    ("Registration", "registration_id"),
    ("Participant", "participant_id"),
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "providers",
        help="provider accounts, their events, roster sync preview/apply (via the running instance)",
        description="Talk to the Race Control running on DIR (serve or the desktop app) through its "
        "local API: list providers and accounts, add an account (credentials as a JSON object on "
        "standard input), list an account's events, preview or apply a roster sync.",
    )
    p.add_argument("--data-dir", dest="providers_data_dir", metavar="DIR", type=Path, help="the data dir")
    what = p.add_subparsers(dest="providers_command", metavar="ACTION", required=True)
    what.add_parser("list", help="the providers that can be synced from")
    what.add_parser("accounts", help="the provider accounts")
    add = what.add_parser("add", help="add an account; its credentials come as a JSON object on stdin")
    add.add_argument("provider")
    add.add_argument("label")
    add.add_argument("--base-url", help="another server for this account")
    events = what.add_parser("events", help="the events an account sees at its provider")
    events.add_argument("account_id")
    sync = what.add_parser("sync", help="preview (default) or apply a roster sync of a local event")
    sync.add_argument("event_id")
    sync.add_argument("--account", required=True)
    sync.add_argument("--provider-event", required=True)
    sync.add_argument(
        "--apply", action="store_true", help="apply it (default: preview only, nothing changes)"
    )
    sync.add_argument(
        "--full", action="store_true", help="a full pull even where an incremental one is possible"
    )
    res = what.add_parser(
        "results", help="a provider event's results, each matched to our runner by its synced registration"
    )
    res.add_argument("account_id")
    res.add_argument("provider_event_id", metavar="EVENT_ID", help="the provider's event id")
    res.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
    res.add_argument("--event", help="match to this local event's runners (when synced into several)")
    res.add_argument("--race", help="one race (distance) only: its provider id or name")
    res.add_argument("--login", help="Copernico: the preset owner's login e-mail")
    res.add_argument("--preset", help="Copernico: the preset's name")


def _instance(data_dir: Path) -> tuple[str, str]:
    try:
        info = json.loads((data_dir / "server.json").read_text("utf-8"))
        token = (data_dir / "api-token").read_text("utf-8").strip()
    except (OSError, ValueError):
        raise SystemExit(
            f"race-control providers: no Race Control is running on {data_dir} "
            "(start `race-control serve` or the desktop app first)"
        ) from None
    return f"http://127.0.0.1:{int(info['http_port'])}", token


def _request(args: argparse.Namespace) -> tuple[str, str, Any]:
    c = args.providers_command
    if c == "list":
        return "GET", "/api/providers", None
    if c == "accounts":
        return "GET", "/api/providers/accounts", None
    if c == "add":
        try:
            creds = json.loads(sys.stdin.read())
        except ValueError as exc:
            raise SystemExit(
                f"race-control providers: the credentials on stdin are not JSON: {exc}"
            ) from None
        body: dict[str, Any] = {"provider": args.provider, "label": args.label, "credentials": creds}
        if args.base_url:
            body["base_url"] = args.base_url
        return "POST", "/api/providers/accounts", body
    if c == "events":
        return "GET", f"/api/providers/accounts/{args.account_id}/events", None
    if c == "results":
        query = {
            k: v
            for k, v in (
                ("event_id", args.event),
                ("race", args.race),
                ("login", args.login),
                ("preset", args.preset),
            )
            if v
        }
        path = f"/api/providers/accounts/{quote(args.account_id, safe='')}/events/{quote(args.provider_event_id, safe='')}/results"
        return "GET", path + ("?" + urlencode(query) if query else ""), None
    body = {"account_id": args.account, "provider_event_id": args.provider_event, "apply": args.apply}
    if args.full:
        body["full"] = True
    return "POST", f"/api/events/{args.event_id}/sync", body


def run(args: argparse.Namespace, data_dir: Path) -> int:
    import httpx  # (here: every ``race-control`` command builds this one's parser, ``serve`` too)

    base, token = _instance(data_dir)
    method, path, body = _request(args)
    try:
        resp = httpx.request(
            method,
            base + path,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=600,
            trust_env=False,
        )
    except httpx.HTTPError as exc:
        print(f"race-control providers: cannot reach Race Control at {base}: {exc}", file=sys.stderr)
        return 2
    try:
        data = resp.json()
    except ValueError:
        data = {"error": resp.text[:500]}
    if resp.status_code >= 400:
        print(f"race-control providers: {data.get('error', resp.status_code)}", file=sys.stderr)
        return 2
    if args.providers_command == "results" and not args.json:
        print(results_table(data))
        return 0
    print(json.dumps(data, indent=2, ensure_ascii=False))
    return 0


def results_table(rows: list[dict[str, Any]]) -> str:
    """The results as aligned text columns (a missing value is ``-``; a result not linked to one
    of our runners shows ``-`` as its participant), and how many of them are linked."""
    cells = [[h for h, _ in RESULT_COLUMNS]]
    for row in rows:
        cells.append(["-" if row.get(k) in (None, "") else _cell(row[k]) for _, k in RESULT_COLUMNS])
    widths = [max(len(line[i]) for line in cells) for i in range(len(RESULT_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells]
    linked = sum(1 for row in rows if row.get("participant_id"))
    lines.append(f"{len(rows)} results, {linked} matched to our participants")
    return "\n".join(lines)


def _cell(value: object) -> str:
    return " ".join(str(value).split())[:40]  # no line breaks or tabs from a provider in a table
