"""``linli schedule``."""
from __future__ import annotations

import argparse


def _cmd_schedule(args: argparse.Namespace) -> int:
    if args.action == "run":
        from bot.runtime.scheduler import main

        main()
        return 0
    from bot.core.db import init_db
    from bot.reports.terminal import print_schedule
    from bot.scheduling.scheduler import Scheduler

    init_db()
    scheduler = Scheduler().open()
    try:
        jobs = [j for j in scheduler.jobs() if not args.kind or j.id.startswith(args.kind)]
    finally:
        scheduler.stop(release=False)
    print_schedule(jobs, args.limit, scheduler.engine)
    return 0


def register(sub) -> None:
    schedule = sub.add_parser("schedule", help="pending scheduled work, or run the scheduler")
    schedule.add_argument("action", choices=["list", "run"])
    schedule.add_argument("--kind", help="only job ids starting with this (followup, deadline, nudge, supervise, …)")
    schedule.add_argument("--limit", type=int, default=50)
    schedule.set_defaults(func=_cmd_schedule)
