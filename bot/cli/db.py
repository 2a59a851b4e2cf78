"""``linli db``: the schema's migrations (``bot/core/migrations``)."""
from __future__ import annotations

import argparse


def _cmd_db(args: argparse.Namespace) -> int:
    from bot.core import migrations
    from bot.core.db import get_engine, init_db

    if args.action == "revision":
        if not args.message:
            print("linli db revision needs -m \"what changed\"")
            return 2
        path = migrations.new_revision(args.message, autogenerate=not args.empty)
        print(f"wrote {path}: review it, then run `linli db upgrade`")
        return 0
    if args.action == "upgrade":
        init_db()
    with get_engine().connect() as connection:
        at = migrations.current(connection)
    print(f"database at {at or 'no revision'}; newest revision {migrations.head()}")
    return 0


def register(sub) -> None:
    db = sub.add_parser("db", help="schema migrations: upgrade the database, show its revision, write a new one")
    db.add_argument("action", choices=["upgrade", "current", "revision"])
    db.add_argument("-m", "--message", help="revision: what changed, e.g. \"tickets: idempotency key\"")
    db.add_argument("--empty", action="store_true", help="revision: an empty one to fill by hand (data moves)")
    db.set_defaults(func=_cmd_db)
