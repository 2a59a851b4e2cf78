"""``linli callbacks``: the call-backs (转人工) residents asked for, and marking one done."""
from __future__ import annotations

import argparse
import sys


def _cmd_callbacks(args: argparse.Namespace) -> int:
    from bot.callbacks import store as callbacks
    from bot.cli.tickets import _staff_actor
    from bot.core.db import init_db
    from bot.reports.terminal import print_callback, print_callback_list
    from bot.tickets.store import TicketStore
    from bot.workflows.callbacks import plan_now

    init_db()
    store = TicketStore()
    if args.action == "list":
        found = store.directory.find_community(args.community) if args.community else None
        if args.community and found is None:
            print(f"街道没有“{args.community}”这个社区。", file=sys.stderr)
            return 1
        print_callback_list(callbacks.list_callbacks(store, None if args.status == "all" else args.status,
                                                     (found.name,) if found else (), args.limit), store.clock())
        return 0
    if args.action == "show":
        request = callbacks.get(store, args.callback_id)
        if request is None:
            print(f"没有这个回电请求：{args.callback_id}", file=sys.stderr)
            return 1
        print_callback(request)
        return 0
    try:
        done = callbacks.mark_done(store, args.callback_id, args.actor or _staff_actor(), args.note)
    except callbacks.CallbackError as error:
        print(error.user_message, file=sys.stderr)
        return 1
    plan_now(store, done)
    print(f"回电 #{done.id} 已完成，会告诉居民。")
    return 0


def register(sub) -> None:
    parser = sub.add_parser("callbacks", help="call-backs residents asked for (转人工)")
    parser.add_argument("action", choices=["list", "show", "done"])
    parser.add_argument("callback_id", nargs="?", help="show/done: the request's number (#12 or 12)")
    parser.add_argument("note", nargs="?", help="done: what was agreed on the phone (staff only)")
    parser.add_argument("--status", choices=["open", "done", "all"], default="open")
    parser.add_argument("--community")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--actor", help="who called, for the history (default staff:$LINLI_STAFF or your login)")
    parser.set_defaults(func=_cmd_callbacks)
