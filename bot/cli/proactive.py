"""``linli proactive``: 未诉先办 proposals before a season, and approving one."""
from __future__ import annotations

import argparse
import sys


def _cmd_proactive(args: argparse.Namespace) -> int:
    from datetime import date, datetime, time

    from bot.cli.tickets import _staff_actor
    from bot.config.policy import get_policy
    from bot.core.clock import utcnow
    from bot.core.db import init_db
    from bot.core.errors import UserError
    from bot.messaging.recipients import recipients_for
    from bot.proactive import cases
    from bot.proactive.notices import case_line
    from bot.tickets.store import TicketStore

    init_db()
    store = TicketStore()
    try:
        if args.action == "propose":
            as_of = (datetime.combine(date.fromisoformat(args.as_of), time(9), store.zone) if args.as_of else utcnow())
            found = cases.propose(store, as_of, args.season)
            print(f"未诉先办建议 {len(found)} 件")
        elif args.action == "list":
            found = cases.list_cases(store, None if args.status == "all" else args.status)
            print(f"未诉先办 {len(found)} 件")
        else:
            case = cases.get(store, args.case_id)
            if case is None:
                print(f"没有这个未诉先办建议：{args.case_id}", file=sys.stderr)
                return 1
            office = recipients_for(get_policy()).community_staff(case.community)
            reporter = tuple(args.reporter.split(":", 1)) if args.reporter else \
                ((office[0].channel, office[0].conversation_id) if office else None)
            if not reporter or len(reporter) != 2:
                print("请用 --reporter 渠道:编号 写明谁跟进这件工单（比如 wecom:wangyuan-office）。", file=sys.stderr)
                return 1
            case, ticket, riders = cases.approve_now(store, case.id, args.actor or _staff_actor(), reporter)
            print(f"已批准未诉先办 #{case.id}：工单 {ticket.id} 派给{ticket.handler_name}，已提醒 {riders} 位骑手")
            return 0
    except (UserError, ValueError) as error:
        print(getattr(error, "user_message", None) or f"参数不对：{error}", file=sys.stderr)
        return 1
    for case in found:
        print(f"{case_line(store, case)}｜{case.status}{'｜工单 ' + case.ticket_id if case.ticket_id else ''}")
    return 0


def register(sub) -> None:
    parser = sub.add_parser("proactive", help="未诉先办: proposals before a season, approving one")
    parser.add_argument("action", choices=["propose", "list", "approve"])
    parser.add_argument("case_id", nargs="?", help="approve: the proposal's number")
    parser.add_argument("--season", help="propose: a season of service.yml (rain, heating); default: those coming")
    parser.add_argument("--as-of", help="propose: as if today were this date (YYYY-MM-DD)")
    parser.add_argument("--status", choices=["proposed", "approved", "all"], default="proposed")
    parser.add_argument("--reporter", help="approve: who follows the ticket up, CHANNEL:ID (default: the community office)")
    parser.add_argument("--actor", help="who approves, for the history (default staff:$LINLI_STAFF or your login)")
    parser.set_defaults(func=_cmd_proactive)
