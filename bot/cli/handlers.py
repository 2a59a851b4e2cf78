"""``linli handlers add|remove|list``: who receives each handler's tickets (the handlers file)."""
from __future__ import annotations

import argparse
import sys

from rich.table import Table

from bot.cli.staff import _console


def _cmd_handlers(args: argparse.Namespace) -> int:
    from bot.config.directory import get_directory
    from bot.core.db import init_db
    from bot.handlers import contacts
    from bot.handlers.work import returns_by_handler
    from bot.staff.tickets import CommandError, handler_of

    path = contacts.handlers_file()
    try:
        listed = dict(contacts.load_handlers(path))
        if args.action == "list":
            init_db()
            from bot.core.db import get_engine

            _print(listed, returns_by_handler(get_engine()))
            return 0
        if not (args.handler and args.channel and args.id):
            raise contacts.HandlersFileError("请写上承办单位、渠道和账号，例如：linli handlers add 首华物业 wecom zhangsan --name 客服值班")
        _, name = handler_of(get_directory(), args.handler)
        if args.action == "add":
            contact = contacts.contact_of(name, {"channel": args.channel, "id": args.id, "name": args.name,
                                                 "hours": args.hours, "night": args.night})
            kept = [c for c in listed.get(name, ()) if c.key != contact.key]
            listed[name] = tuple(kept + [contact])
            contacts.save_handlers(listed, path)
            print(f"已加入{name}的接单人：{contact.channel}:{contact.id} {contact.name}".rstrip())
        else:
            left = tuple(c for c in listed.get(name, ()) if c.key != (args.channel, args.id))
            if len(left) == len(listed.get(name, ())):
                print(f"{name}的接单名单里没有 {args.channel}:{args.id}", file=sys.stderr)
                return 1
            if left:
                listed[name] = left
            else:
                listed.pop(name)
            contacts.save_handlers(listed, path)
            print(f"已移出{name}的接单人：{args.channel}:{args.id}")
    except (contacts.HandlersFileError, CommandError) as error:
        print(error.user_message, file=sys.stderr)
        return 1
    return 0


def _print(listed, returns: dict) -> None:
    table = Table("承办单位", "渠道", "账号", "名称", "值班时间", "夜间紧急", "退单数")
    for name, people in listed.items():
        for index, c in enumerate(people):
            hours = f"{c.hours[0]:%H:%M}-{c.hours[1]:%H:%M}" if c.hours else "全天"
            table.add_row(name if index == 0 else "", c.channel, c.id, c.name, hours, "是" if c.night else "",
                          str(returns.get(name, 0)) if index == 0 else "")
    _console().print(table)


def register(sub) -> None:
    handlers = sub.add_parser("handlers", help="who receives each handler's tickets (the handlers file)")
    handlers.add_argument("action", choices=["add", "remove", "list"])
    handlers.add_argument("handler", nargs="?", help="the handler as the directory names it (物业公司、社区、产权单位、街道科室)")
    handlers.add_argument("channel", nargs="?", help="wecom, linli_telegram or wechat")
    handlers.add_argument("id", nargs="?", help="their id on that channel")
    handlers.add_argument("--name", help="how the history names them (客服值班)")
    handlers.add_argument("--hours", help="on duty, e.g. 08:00-20:00 (default: always)")
    handlers.add_argument("--night", action="store_true", help="the night contact: told of emergencies at any hour")
    handlers.set_defaults(func=_cmd_handlers)
