"""``race-control central …``: migrate the central database, add partners and users.

Exit status: 0 done; 1 the database refused or cannot be reached (the message names
``host:port/db``, never a password); 2 bad usage or input (argparse's own, a bad e-mail, a
short password).  Expected failures print one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from race_control.errors import InputError

DATABASE_HELP = "the central database's owner (or a superuser) URL: postgresql://user:password@host:port/db"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    central = sub.add_parser(
        "central",
        help="set up the central PostgreSQL: migrate it, add timing partners and their users",
        description="Administer the timing company's central PostgreSQL (docs/sync.md). Run as the "
        "URL of a superuser (or of a role with BYPASSRLS and CREATEROLE): the tables force row-level security.",
    )
    commands = central.add_subparsers(dest="central_command", metavar="COMMAND", required=True)
    migrate = commands.add_parser(
        "migrate",
        help="create or upgrade the central schema (running it again changes nothing)",
        description="Create or upgrade the central schema, its row-level security and the partners' "
        "group role; prints the revision.",
    )
    migrate.add_argument("--database", required=True, metavar="URL", help=DATABASE_HELP)
    partner = commands.add_parser(
        "add-partner",
        help="add a timing partner: prints {partner_id, url} (url: what its laptops use)",
        description="Add a timing partner with a PostgreSQL login of its own. Prints one JSON line "
        '{"partner_id": ..., "url": ...}; the URL holds the login\'s password (shown only now).',
    )
    partner.add_argument("--database", required=True, metavar="URL", help=DATABASE_HELP)
    partner.add_argument("--name", required=True, help="the partner's name (e.g. the timing company)")
    user = commands.add_parser(
        "add-user",
        help="add a user of a partner; the password is read from standard input",
        description="Add a user who logs in to the desktop app. The password is the first line of "
        "standard input (asked for without echo on a terminal); stored as an argon2id hash.",
    )
    user.add_argument("--database", required=True, metavar="URL", help=DATABASE_HELP)
    user.add_argument("--partner", required=True, metavar="PARTNER_ID", help="the id add-partner printed")
    user.add_argument("--email", required=True, help="the user's e-mail address (the login name)")


def _read_password() -> str:
    if sys.stdin is not None and sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise InputError("the two passwords differ")
        return password
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise InputError("no password on standard input (its first line is the password)")
    return line.rstrip("\r\n")


def run(args: argparse.Namespace) -> int:
    from race_control.central import admin
    from race_control.central.errors import CentralError, where

    try:
        if args.central_command == "migrate":
            revision = admin.migrate(args.database)
            print(f"{where(args.database)} is at central schema revision {revision}", flush=True)
        elif args.central_command == "add-partner":
            print(json.dumps(admin.add_partner(args.database, args.name)), flush=True)
        else:
            password = _read_password()
            user_id = admin.add_user(args.database, args.partner, args.email, password)
            email = admin.check_email(args.email)
            print(json.dumps({"user_id": user_id, "partner_id": args.partner, "email": email}), flush=True)
    except InputError as exc:
        print(f"race-control central {args.central_command}: {exc}", file=sys.stderr)
        return 2
    except CentralError as exc:
        print(f"race-control central {args.central_command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
