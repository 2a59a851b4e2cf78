"""``linli broadcast``: staff notices from the command line — send (now or at a time), list, show, cancel.

``send`` previews the audience per channel and asks before sending (``--yes`` for scripts). A
broadcast for now is sent by this process with a progress bar; Ctrl-C pauses it, and the scheduler
process (``linli run``) carries on about a minute later unless it is cancelled. A broadcast for later
is left to the scheduler process.
"""
from __future__ import annotations

import argparse
import sys
import threading
from collections import Counter
from zoneinfo import ZoneInfo

from bot.broadcasts import audience, compose, fanout, jobs, lifecycle, models
from bot.broadcasts.errors import BroadcastError
from bot.config import broadcasts
from bot.core.settings import get_settings


def register(subparsers) -> None:
    parser = subparsers.add_parser("broadcast", help="staff notices to residents and volunteers")
    actions = parser.add_subparsers(dest="broadcast_action", required=True)

    send = actions.add_parser("send", help="preview, confirm and send a notice")
    send.add_argument("text", help="the notice ('-' reads it from standard input)")
    send.add_argument("--to", choices=[models.SUBSCRIBERS, models.VOLUNTEERS], default=models.SUBSCRIBERS,
                      help="subscribed residents (default) or rider volunteers")
    send.add_argument("--community", help="only this community (volunteers: its patrol volunteers)")
    send.add_argument("--building", help="only this building of --community")
    send.add_argument("--topic", help="outages|safety|events (or 停水停电|安全|活动): skips those who chose other topics")
    send.add_argument("--image", help="a JPG or PNG file sent with the text where the channel can show it")
    send.add_argument("--at", help="send later: 2026-11-25 08:00, 明天8:00, 8:00 (Beijing time)")
    send.add_argument("--yes", action="store_true", help="no confirmation question (scripts)")
    send.set_defaults(func=_cmd_send)

    listing = actions.add_parser("list", help="recent broadcasts")
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(func=_cmd_list)

    show = actions.add_parser("show", help="one broadcast with its delivery report")
    show.add_argument("broadcast_id")
    show.set_defaults(func=_cmd_show)

    cancel = actions.add_parser("cancel", help="stop a scheduled or running broadcast")
    cancel.add_argument("broadcast_id")
    cancel.set_defaults(func=_cmd_cancel)


def _console():
    from bot.reports.terminal import _console as console

    return console()


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def _cmd_send(args: argparse.Namespace) -> int:
    from bot.cli.tickets import _staff_actor
    from bot.config.directory import get_directory
    from bot.core.clock import utcnow
    from bot.core.db import get_engine, init_db

    init_db()
    settings, engine, now = get_settings(), get_engine(), utcnow()
    text = sys.stdin.read() if args.text == "-" else args.text
    try:
        draft = compose.Draft(
            text=text, audience=compose.Audience(args.to, args.community, args.building, args.topic),
            send_at=compose.parse_when(args.at, now, ZoneInfo(settings.timezone)) if args.at else None,
            image_path=args.image, author_channel="cli", author_id=_staff_actor().split(":", 1)[1])
        preview = audience.preview(engine, draft, get_directory(), audience.Reach.from_credentials(), now)
    except BroadcastError as error:
        return _fail(error.user_message)
    console = _console()
    console.print("[bold]通知预览[/bold]")
    for line in audience.describe_preview(preview, settings.timezone):
        console.print(line, markup=False)
    console.print("—— 内容 ——")
    console.print(draft.text.strip(), markup=False)
    if not args.yes and input("确认发送吗？[y/N] ").strip().lower() not in ("y", "yes", "是", "确认"):
        print("没有发送。")
        return 0
    try:
        view = lifecycle.create(engine, draft, get_directory(), utcnow(), status="scheduled")
    except BroadcastError as error:
        return _fail(error.user_message)
    return _send_or_schedule(view, engine)


def _send_or_schedule(view: lifecycle.BroadcastView, engine) -> int:
    from bot.core.clock import utcnow
    from bot.core.text import local_time
    from bot.scheduling.scheduler import Scheduler

    now = utcnow()
    scheduler = Scheduler(engine=engine).open()
    try:
        if view.send_at and view.send_at > now:
            jobs.schedule(scheduler, view, now)
            print(f"通知 {view.id} 定在 {local_time(view.send_at, get_settings().timezone)} 发送（由调度进程 linli run 发出）。")
            return 0
        # Should this process die, the scheduler process takes over once the heartbeat is stale.
        scheduler.at(jobs.job_id(view.id, watch=True), jobs.drive,
                     now + broadcasts.get_config().stale_after, quiet=False, broadcast_id=view.id)
        result = _run_with_bar(view, engine)
        if result.view.status in ("done", "cancelled"):
            scheduler.remove(jobs.job_id(view.id, watch=True))
    finally:
        scheduler.stop(release=False)
    _print_outcome(result.view, engine)
    if result.view.status == "sending":
        left = result.view.counts.get("pending", 0)
        print(f"已暂停，还有 {left} 人没发；调度进程约一分钟后接着发。要停止：linli broadcast cancel {view.id}")
        return 1
    return 0


class _Bar(fanout.Progress):
    def __init__(self, bar) -> None:
        self.bar, self.task, self.lock = bar, None, threading.Lock()
        self.outcomes: Counter[str] = Counter()

    def start(self, total: int, done: int) -> None:
        self.task = self.bar.add_task("发送中", total=total, completed=done, sent=0, failed=0)

    def advance(self, outcome: str) -> None:
        with self.lock:
            self.outcomes[outcome] += 1
            self.bar.update(self.task, advance=1, sent=self.outcomes["sent"], failed=self.outcomes["failed"])


def _run_with_bar(view: lifecycle.BroadcastView, engine) -> fanout.RunResult:
    """Runs in a thread so Ctrl-C can ask it to stop after the sends in flight."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from bot.core.clock import utcnow
    from bot.scheduling.settings import SchedulerSettings

    settings = SchedulerSettings.from_env()
    stop = threading.Event()
    outcome: dict[str, fanout.RunResult] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("送达 {task.fields[sent]} · 失败 {task.fields[failed]}"), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=_console()) as bar:
        worker = threading.Thread(target=lambda: outcome.update(result=fanout.run(
            engine, view.id, settings.rasa_url, settings.api_token, utcnow, progress=_Bar(bar), stop=stop)))
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.2)
        except KeyboardInterrupt:
            stop.set()
            worker.join()
    return outcome["result"]


def _print_outcome(view: lifecycle.BroadcastView, engine) -> None:
    console = _console()
    console.print(f"通知 {view.id}：{broadcasts.get_config().status_labels[view.status]}")
    for line in audience.describe_outcome(lifecycle.report(engine, view.id)):
        console.print(line, markup=False)


def _cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from bot.core.db import get_engine, init_db
    from bot.core.text import local_time

    init_db()
    zone, config = get_settings().timezone, broadcasts.get_config()
    table = Table("编号", "状态", "发给", "时间", "送达", "失败", "未发", "内容")
    for view in lifecycle.listing(get_engine(), args.limit):
        when = view.started_at or view.send_at or view.created_at
        table.add_row(str(view.id), config.status_labels[view.status], view.audience.label(config), local_time(when, zone),
                      str(view.counts.get("sent", 0)), str(view.counts.get("failed", 0)),
                      str(view.counts.get("skipped", 0)), view.text[:24].replace("\n", " "))
    _console().print(table)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from rich.table import Table

    from bot.core.db import get_engine, init_db
    from bot.core.text import local_time

    init_db()
    engine, zone, config = get_engine(), get_settings().timezone, broadcasts.get_config()
    view = lifecycle.get(engine, args.broadcast_id)
    if view is None:
        return _fail(f"没有编号为 {args.broadcast_id} 的通知。")
    console = _console()
    console.print(f"[bold]通知 {view.id}[/bold]  {config.status_labels[view.status]}  发给：{view.audience.label(config)}")
    console.print(f"起草：{view.author_channel}:{view.author_id} {local_time(view.created_at, zone)}"
                  + (f"  定时：{local_time(view.send_at, zone)}" if view.send_at else ""), markup=False)
    if view.image:
        console.print(f"图片：{view.image}", markup=False)
    console.print(view.text, markup=False)
    _print_outcome(view, engine)
    failed = lifecycle.failures(engine, view.id)
    if failed:
        table = Table("渠道", "会话", "原因", "详情")
        for row in failed:
            table.add_row(row.channel, row.sender_id, config.reason_label(row.reason), (row.detail or "")[:120])
        console.print(table)
    return 0


def _cmd_cancel(args: argparse.Namespace) -> int:
    from bot.cli.tickets import _staff_actor
    from bot.core.clock import utcnow
    from bot.core.db import get_engine, init_db

    init_db()
    try:
        view = lifecycle.cancel(get_engine(), args.broadcast_id, _staff_actor(), utcnow())
    except BroadcastError as error:
        return _fail(error.user_message)
    sent = view.counts.get("sent", 0) + view.counts.get("sending", 0)
    print(f"通知 {view.id} 已取消" + (f"，已发出 {sent} 人，其余不再发送。" if sent else "。"))
    return 0
