"""``linli staff add|remove|list|sync`` and ``linli volunteers list|approve|pause|points``."""
from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table


def _console() -> Console:
    return Console() if sys.stdout.isatty() else Console(width=200)


def _cmd_staff(args: argparse.Namespace) -> int:
    from bot.config import staff
    from bot.core.db import init_db
    from bot.people import roster

    init_db()
    try:
        if args.action == "add":
            if not (args.channel and args.id):
                raise staff.StaffFileError("no id", "请写上渠道和账号，例如：linli staff add wecom zhangsan --community 望园")
            member = roster.add_staff(staff.StaffMember(args.channel, args.id, args.name or "",
                                                         tuple(args.community or ()), tuple(args.handler or ()),
                                                         args.digest, not args.no_notices))
            print(f"已加入工作人员：{member.channel}:{member.id} {'、'.join(member.communities) or '全街道'}")
        elif args.action == "remove":
            if not roster.remove_staff(args.channel or "", args.id or ""):
                print(f"名单里没有 {args.channel}:{args.id}", file=sys.stderr)
                return 1
            print(f"已移出工作人员：{args.channel}:{args.id}")
        elif args.action == "sync":
            print(f"已按 {staff.staff_file()} 同步 {roster.sync_staff()} 位工作人员")
        else:
            _print_staff(staff.load_staff())
    except staff.StaffFileError as error:
        print(error.user_message, file=sys.stderr)
        return 1
    return 0


def _print_staff(members) -> None:
    table = Table("渠道", "账号", "姓名", "负责社区", "承办单位提醒", "日报", "通知")
    for m in members:
        table.add_row(m.channel, m.id, m.name, "、".join(m.communities) or "全街道", "、".join(m.handlers),
                      "是" if m.digest else "", "是" if m.notices else "否")
    _console().print(table)


def _cmd_volunteers(args: argparse.Namespace) -> int:
    from bot.config.policy import get_policy
    from bot.core.clock import utcnow
    from bot.core.db import get_engine, init_db
    from bot.core.errors import UserError
    from bot.staff import commands
    from bot.volunteers import points, records

    init_db()
    engine, now, policy = get_engine(), utcnow(), get_policy()
    try:
        if args.action == "approve":
            rider = records.approve(engine, policy, _who(args), now)
            print(f"已批准：{rider.name}（{rider.key}），提醒时间 {'、'.join(rider.nudge_times)}")
        elif args.action == "pause":
            rider = records.pause(engine, _who(args), now)
            print(f"已暂停：{rider.name}（{rider.key}）")
        elif args.action == "points":
            first = points.parse_month(args.month, policy.zone, now)
            print(f"{first.year}年{first.month}月")
            _print_points(points.points(engine, policy.zone, first))
        else:
            _print_volunteers(records.list_volunteers(engine, commands.volunteer_status(args.status or "")))
    except UserError as error:
        print(error.user_message, file=sys.stderr)
        return 1
    return 0


def _who(args: argparse.Namespace) -> str:
    from bot.volunteers.records import VolunteerError

    if not args.who:
        raise VolunteerError("no rider", "请写上是哪位骑手：编号（渠道:会话号）、手机号或姓名。")
    return args.who


def _print_volunteers(riders) -> None:
    table = Table("编号", "姓名", "平台", "巡查社区", "提醒时间", "手机", "状态")
    for r in riders:
        table.add_row(r.key, r.name, r.platform or "-", "、".join(r.areas), "、".join(r.nudge_times), r.phone,
                      r.status_label)
    _console().print(table)


def _print_points(found) -> None:
    table = Table("编号", "姓名", "平台", "隐患上报已解决", "平安巡查")
    for p in found:
        table.add_row(p.rider.key, p.rider.name, p.rider.platform or "-", str(p.fixed_reports), str(p.all_clears))
    _console().print(table)


def register(sub) -> None:
    staff = sub.add_parser("staff", help="who is staff (the staff file and the database together)")
    staff.add_argument("action", choices=["add", "remove", "list", "sync"])
    staff.add_argument("channel", nargs="?", help="their channel: wecom, linli_telegram, wechat")
    staff.add_argument("id", nargs="?", help="their id on that channel")
    staff.add_argument("--name")
    staff.add_argument("--community", action="append", help="a community they serve (repeat; none = whole street)")
    staff.add_argument("--handler", action="append", help="a handler whose due-soon reminders they get (repeat)")
    staff.add_argument("--digest", action="store_true", help="they get the daily digest")
    staff.add_argument("--no-notices", action="store_true", help="chat commands only, no scheduled notices")
    staff.set_defaults(func=_cmd_staff)

    riders = sub.add_parser("volunteers", help="rider volunteers: approve, pause, list, monthly points")
    riders.add_argument("action", choices=["list", "approve", "pause", "points"])
    riders.add_argument("who", nargs="?", help="approve/pause: channel:id, phone number or name")
    riders.add_argument("--status", help="list: pending | active | paused")
    riders.add_argument("--month", help="points: YYYY-MM (default this month)")
    riders.set_defaults(func=_cmd_volunteers)
