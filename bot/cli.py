"""The ``linli`` command: train, chat, serve, parse, and look at tickets."""
from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import subprocess
import sys
from typing import Iterable

from bot.settings import get_settings


def _cmd_train(args: argparse.Namespace) -> int:
    from bot.runtime import train

    print(f"model: {train(force=args.force)}")
    return 0


def _serve(shell: bool, workers: int = 1, telegram_polling: bool = False) -> int:
    """Action server plus Rasa (server or shell), the scheduler with the server, and Telegram polling
    when asked; all stop together."""
    from bot import runtime

    settings = get_settings()
    runtime.train(settings)
    children = [runtime.start_action_server(settings)]
    try:
        runtime.wait_for_port(settings.action_port, 120, children[0])
        if shell:
            # Library deprecation warnings are noise in a chat window; the server logs keep them.
            return runtime.rasa_command("shell", "--model", str(runtime.model_path(settings)),
                                 "--endpoints", str(runtime.write_endpoints(settings)),
                                 "--port", str(settings.rasa_port),
                                 env={**os.environ, "PYTHONWARNINGS": "ignore"}).returncode
        server = runtime.start_rasa_server(settings, workers=workers)
        children.append(server)
        children.append(runtime.start_scheduler())
        children.append(importlib.import_module("bot.workbench.server").start_console(settings))  # the workbench
        if telegram_polling:
            children.append(subprocess.Popen([sys.executable, "-m", "bot.cli_channels", "telegram-polling"]))
        signal.signal(signal.SIGTERM, lambda *_: server.terminate())
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            child.terminate()
            child.wait(10)


def _cmd_shell(args: argparse.Namespace) -> int:
    return _serve(shell=True)


def _cmd_run(args: argparse.Namespace) -> int:
    return _serve(shell=False, workers=args.workers, telegram_polling=args.telegram_polling)


def parse_result(parsed: dict) -> dict:
    """The stable, documented shape of `linli parse` output."""
    intent = parsed.get("intent") or {}
    entities = [{"entity": e["entity"], "value": e["value"]} for e in parsed.get("entities", [])
                if e.get("entity") != "category"]
    category = next((e["value"] for e in parsed.get("entities", []) if e.get("entity") == "category"), None)
    if intent.get("name") == "faq":
        selected = ((parsed.get("response_selector") or {}).get("faq") or {}).get("response") or {}
        key = selected.get("intent_response_key")
        intent = {**intent, "full_retrieval_intent": key}
    return {
        "text": parsed.get("text"),
        "intent": {k: v for k, v in (("name", intent.get("name")), ("confidence", intent.get("confidence")),
                                     ("full_retrieval_intent", intent.get("full_retrieval_intent"))) if v is not None},
        "entities": entities,
        "category": category,
    }


class Parser:
    """Loads the trained model once and parses many messages with it."""

    def __init__(self) -> None:
        import logging

        from rasa.core.agent import Agent
        from rasa.utils.log_utils import configure_structlog

        # Rasa's structured log writes to stdout unless configured; stdout is for the JSON results.
        configure_structlog(logging.WARNING)

        from bot.runtime import model_path, train

        settings = get_settings()
        train(settings)
        self.agent = Agent.load(str(model_path(settings)))

    async def parse(self, text: str) -> dict:
        return parse_result(await self.agent.parse_message(text))


def _lines(source: Iterable[str]) -> Iterable[str]:
    for line in source:
        yield line.rstrip("\n")


def _cmd_parse(args: argparse.Namespace) -> int:
    # Standard output carries only the JSON results: whatever Rasa, jieba or TensorFlow print while
    # loading and parsing goes to standard error.
    results, sys.stdout = sys.stdout, sys.stderr
    parser = Parser()

    async def run() -> None:
        texts = _lines(sys.stdin) if args.text == "-" else [args.text]
        for text in texts:
            print(json.dumps(await parser.parse(text), ensure_ascii=False), file=results, flush=True)

    asyncio.run(run())
    return 0


def _staff_actor() -> str:
    import getpass

    return f"staff:{os.environ.get('LINLI_STAFF') or getpass.getuser()}"


def _cmd_tickets(args: argparse.Namespace) -> int:
    from bot import followups, staff
    from bot.db import init_db
    from bot.reports import print_ticket, print_ticket_list
    from bot.errors import UserError
    from bot.tickets import TicketStore, parse_ticket_id

    init_db()
    store = TicketStore()
    if args.action == "list":
        print_ticket_list(staff.list_tickets(store, status=args.status, community=args.community,
                                             overdue=args.overdue or None, limit=args.limit))
        return 0
    ticket_id = parse_ticket_id(args.ticket_id or "")
    ticket = store.get(ticket_id) if ticket_id else None
    if ticket is None:
        print(f"没有这个工单：{args.ticket_id}", file=sys.stderr)
        return 1
    if args.action != "show":
        try:
            ticket = staff.act(store, args.action, ticket.id, args.actor or _staff_actor(), args.text, args.kind)
        except UserError as error:
            print(error.user_message, file=sys.stderr)
            return 1
        followup = staff.plan(store, ticket)
        if followup is not None:
            print(f"第{followup.round}次回访安排在 {followups.local_time(followup.due_at, get_settings().timezone)}")
    print_ticket(ticket)
    return 0


def _cmd_schedule(args: argparse.Namespace) -> int:
    if args.action == "run":
        from bot.scheduler import main

        main()
        return 0
    from bot.db import init_db
    from bot.reports import print_schedule
    from bot.scheduler import Scheduler

    init_db()
    scheduler = Scheduler().open()
    try:
        jobs = [j for j in scheduler.jobs() if not args.kind or j.id.startswith(args.kind)]
    finally:
        scheduler.stop(release=False)
    print_schedule(jobs, args.limit, scheduler.engine)
    return 0


def _cmd_nudges(args: argparse.Namespace) -> int:
    from bot import nudges
    from bot.db import get_engine, init_db
    from bot.scheduler import Scheduler, get_policy, utcnow

    init_db()
    engine, now = get_engine(), utcnow()
    if args.action != "flood" and not (args.channel and args.sender_id):
        print("请给出骑手的渠道和会话号，例如：linli nudges pause linli_telegram 12345", file=sys.stderr)
        return 1
    if args.action == "flood":
        scheduler = Scheduler(engine=engine).open()
        try:
            count = nudges.flood_alert(scheduler, engine, now, args.community)
        finally:
            scheduler.stop(release=False)
        print(f"汛期巡查提醒：{count} 位骑手")
        return 0
    try:
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


#: Modules that add their own subcommands (``register(subparsers)``), one per area of work.
CLI_MODULES: tuple[str, ...] = ("bot.cli_channels", "bot.cli_broadcast", "bot.cli_report", "bot.cli_staff",
                                "bot.workbench.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linli", description="Linli (邻里) community assistant")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train the Rasa model (skipped when it is up to date)")
    train.add_argument("--force", action="store_true")
    train.set_defaults(func=_cmd_train)

    sub.add_parser("shell", help="chat as a resident in the terminal").set_defaults(func=_cmd_shell)

    run = sub.add_parser("run", help="Rasa server (REST channel, API) and the action server")
    run.add_argument("--workers", type=int, default=1, help="Rasa worker processes (needs Redis)")
    run.add_argument("--telegram-polling", action="store_true",
                     help="fetch Telegram updates by polling (a pilot without a public URL)")
    run.set_defaults(func=_cmd_run)

    parse = sub.add_parser("parse", help="print NLU results as JSON; '-' reads one message per line")
    parse.add_argument("text")
    parse.set_defaults(func=_cmd_parse)

    tickets = sub.add_parser("tickets", help="look at tickets and act on them (staff)")
    tickets.add_argument("action", choices=["list", "show", "start", "resolve", "reopen", "assign", "note", "merge"])
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

    schedule = sub.add_parser("schedule", help="pending scheduled work, or run the scheduler")
    schedule.add_argument("action", choices=["list", "run"])
    schedule.add_argument("--kind", help="only job ids starting with this (followup, deadline, nudge, supervise, …)")
    schedule.add_argument("--limit", type=int, default=50)
    schedule.set_defaults(func=_cmd_schedule)

    nudge = sub.add_parser("nudges", help="rider duty nudges")
    nudge.add_argument("action", choices=["subscribe", "pause", "resume", "unsubscribe", "flood"])
    nudge.add_argument("channel", nargs="?", help="the rider's channel (e.g. linli_telegram, wechat)")
    nudge.add_argument("sender_id", nargs="?", help="the rider's conversation id")
    nudge.add_argument("--community", help="patrol area (subscribe), or whom a flood nudge goes to")
    nudge.add_argument("--times", nargs="+", help="subscribe: local times, e.g. 7:30 17:30")
    nudge.add_argument("--days", nargs="+", help="subscribe: weekdays 1-7 or mon..sun (default every day)")
    nudge.add_argument("--days-off", type=int, help="pause: days (default from service.yml)")
    nudge.set_defaults(func=_cmd_nudges)

    for module in CLI_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
