"""``linli nudges``."""
from __future__ import annotations

import argparse
import json
import sys


def _cmd_nudges(args: argparse.Namespace) -> int:
    from bot.config.directory import get_directory
    from bot.config.policy import get_policy
    from bot.core.clock import utcnow
    from bot.core.db import get_engine, init_db
    from bot.scheduling.scheduler import Scheduler
    from bot.volunteers import nudges
    from bot.workflows import nudge_jobs

    init_db()
    engine, now = get_engine(), utcnow()
    if args.action != "flood" and not (args.channel and args.sender_id):
        print("请给出骑手的渠道和会话号，例如：linli nudges pause linli_telegram 12345", file=sys.stderr)
        return 1
    try:
        if args.action == "flood":
            community = nudges.area_of(get_directory(), args.community)
            scheduler = Scheduler(engine=engine).open()
            try:
                count = nudge_jobs.area_alert(scheduler, engine, now, community)
            finally:
                scheduler.stop(release=False)
            print(f"汛期巡查提醒（{community or '全街道'}）：{count} 位骑手")
            return 0
        if args.action == "subscribe":
            view = nudges.subscribe(engine, get_policy(), args.channel, args.sender_id, now, args.community,
                                    args.times or ("17:30",), args.days or range(1, 8))
        else:
            view = {"pause": lambda: nudges.pause(engine, get_policy(), args.channel, args.sender_id, now, args.days_off),
                    "resume": lambda: nudges.resume(engine, args.channel, args.sender_id, now),
                    "unsubscribe": lambda: nudges.unsubscribe(engine, args.channel, args.sender_id, now)}[args.action]()
    except nudges.NudgeError as error:
        print(error.user_message, file=sys.stderr)
        return 1
    print(json.dumps({"channel": view.channel, "sender_id": view.sender_id, "area": view.area, "times": view.times,
                      "weekdays": view.weekdays, "active": view.active,
                      "paused_until": view.paused_until.isoformat() if view.paused_until else None},
                     ensure_ascii=False))
    return 0


def register(sub) -> None:
    nudge = sub.add_parser("nudges", help="rider duty nudges")
    nudge.add_argument("action", choices=["subscribe", "pause", "resume", "unsubscribe", "flood"])
    nudge.add_argument("channel", nargs="?", help="the rider's channel (e.g. linli_telegram, wechat)")
    nudge.add_argument("sender_id", nargs="?", help="the rider's conversation id")
    nudge.add_argument("--community", help="patrol area (subscribe), or whom a flood nudge goes to")
    nudge.add_argument("--times", nargs="+", help="subscribe: local times, e.g. 7:30 17:30")
    nudge.add_argument("--days", nargs="+", help="subscribe: weekdays 1-7 or mon..sun (default every day)")
    nudge.add_argument("--days-off", type=int, help="pause: days (default from service.yml)")
    nudge.set_defaults(func=_cmd_nudges)
