"""``linli tickets``."""
from __future__ import annotations

import argparse
import os
import sys

from bot.core.settings import get_settings


def _staff_actor() -> str:
    import getpass

    return f"staff:{os.environ.get('LINLI_STAFF') or getpass.getuser()}"


def _cmd_tickets(args: argparse.Namespace) -> int:
    from bot.core import text
    from bot.core.db import init_db
    from bot.core.errors import UserError
    from bot.core.text import parse_ticket_id
    from bot.reports.terminal import print_ticket, print_ticket_list
    from bot.staff import tickets
    from bot.tickets.store import TicketStore

    init_db()
    if args.action == "mask-existing":
        return _mask_existing()
    store = TicketStore()
    if args.action == "list":
        print_ticket_list(tickets.list_tickets(store, status=args.status, community=args.community,
                                             overdue=args.overdue or None, limit=args.limit))
        return 0
    ticket_id = parse_ticket_id(args.ticket_id or "")
    ticket = store.get(ticket_id) if ticket_id else None
    if ticket is None:
        print(f"没有这个工单：{args.ticket_id}", file=sys.stderr)
        return 1
    if args.action != "show":
        try:
            ticket = tickets.act(store, args.action, ticket.id, args.actor or _staff_actor(), args.text, args.kind)
        except UserError as error:
            print(error.user_message, file=sys.stderr)
            return 1
        followup = tickets.plan(store, ticket)
        if followup is not None:
            print(f"第{followup.round}次回访安排在 {text.local_time(followup.due_at, get_settings().timezone)}")
    print_ticket(ticket)
    return 0


def _mask_existing() -> int:
    """One-off, for databases written before descriptions were stored masked."""
    from bot.callbacks.store import mask_existing_notes
    from bot.core.db import session_scope
    from bot.tickets.masking import mask_existing

    with session_scope() as session:
        changed = mask_existing(session) + mask_existing_notes(session)
    print(f"masked {changed} rows")
    return 0


def register(sub) -> None:
    tickets = sub.add_parser("tickets", help="look at tickets and act on them (staff)")
    tickets.add_argument("action", choices=["list", "show", "start", "resolve", "reopen", "assign", "note", "merge",
                                                 "mask-existing"])
    tickets.add_argument("ticket_id", nargs="?", help="the ticket (merge: the one that closes, SOURCE)")
    tickets.add_argument("text", nargs="?", help="note, reason (start/resolve/reopen), new handler name (assign) "
                                                 "or the ticket merged into (merge: TARGET)")
    tickets.add_argument("--kind", help="assign: property_company | community | owner_unit | department "
                                        "(default: looked up in the directory)")
    tickets.add_argument("--actor", help="who acts, for the history (default staff:$LINLI_STAFF or your login)")
    tickets.add_argument("--status")
    tickets.add_argument("--community")
    tickets.add_argument("--overdue", action="store_true")
    tickets.add_argument("--limit", type=int, default=50)
    tickets.set_defaults(func=_cmd_tickets)
