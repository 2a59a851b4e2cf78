"""`linli report`: the three rates for any run of days (table or JSON), or, with ``--period``, the
week's or month's report folder for staff (summary, ticket list, charts; bot/reports/).
"""
from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.core.settings import get_settings


def register(subparsers) -> None:
    report = subparsers.add_parser(
        "report", help="the three rates (三率) for --from/--to, or a week's or month's report folder (--period)")
    report.add_argument("--period", choices=("week", "month"),
                        help="write a report folder for the last whole week (Mon–Sun) or month ending by --as-of")
    report.add_argument("--as-of", dest="as_of", help="with --period: YYYY-MM-DD (default: today)")
    report.add_argument("--out", help="with --period: the folder (default var/reports/<period>-<first day>[-community])")
    report.add_argument("--from", dest="since", help="first day, YYYY-MM-DD (default: 6 days before --to)")
    report.add_argument("--to", help="last day, YYYY-MM-DD (default: today)")
    report.add_argument("--community")
    report.add_argument("--json", action="store_true", help="the three rates as JSON (not with --period)")
    report.set_defaults(func=run)


class _Refused(Exception):
    """Bad input: the message says what to write instead."""


def run(args: argparse.Namespace) -> int:
    from bot.core.db import init_db

    init_db()
    zone = ZoneInfo(get_settings().timezone)
    try:
        _check_options(args)
        community = _community(args.community)
        return _period_report(args, zone, community) if args.period else _rates(args, zone, community)
    except _Refused as refused:
        print(refused, file=sys.stderr)
        return 1


def _check_options(args: argparse.Namespace) -> None:
    if args.period and (args.since or args.to):
        raise _Refused("按周、按月出报表不用 --from/--to：用 --as-of 指定日期，报表是这天以前最近一个完整的周或月。")
    if args.period and args.json:
        raise _Refused("--json 只用于三率（不带 --period）；报表文件夹里有 summary.md 和 tickets.csv。")
    if not args.period and (args.as_of or args.out):
        raise _Refused("--as-of 和 --out 要和 --period week 或 --period month 一起用。")


def _day(text: str | None, default: date) -> date:
    try:
        return date.fromisoformat(text) if text else default
    except ValueError:
        raise _Refused("日期格式不对，请写成 2026-11-23 这样。") from None


def _community(name: str | None) -> str | None:
    from bot.config.directory import get_directory

    if not name:
        return None
    found = get_directory().find_community(name)
    if found is None:
        raise _Refused(f"没有这个社区：{name}")
    return found.name


def _rates(args: argparse.Namespace, zone: ZoneInfo, community: str | None) -> int:
    from bot.config.policy import get_policy
    from bot.core.clock import utcnow
    from bot.core.db import get_engine
    from bot.reports import rates

    last = _day(args.to, datetime.now(zone).date())
    first = _day(args.since, last - timedelta(days=6))
    if first > last:
        raise _Refused("开始日期晚于结束日期。")
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    report = rates.compute(get_engine(), get_policy().response_hours, start, end, utcnow(), community)
    if args.json:
        print(rates.to_json(report))
    else:
        rates.print_report(report, zone)
    return 0


def _period_report(args: argparse.Namespace, zone: ZoneInfo, community: str | None) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from bot.config.directory import get_directory
    from bot.config.policy import get_policy
    from bot.config.report import ReportConfig
    from bot.core.clock import utcnow
    from bot.core.db import get_engine
    from bot.reports import charts, writers
    from bot.reports.period import Period, ReportError, as_of_moment, gather

    settings, directory, now = get_settings(), get_directory(), utcnow()
    today = now.astimezone(zone).date()
    as_of_day = _day(args.as_of, today)
    if as_of_day > today:
        raise _Refused("--as-of 不能晚于今天。")
    config = ReportConfig.load(settings.service_path, directory.service)
    period = Period.ending_by(args.period, as_of_day)
    as_of = as_of_moment(as_of_day, zone, now)
    folder = Path(args.out) if args.out else writers.default_folder(settings.var_dir, config, period, community)
    engine = get_engine()
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("统计工单…", total=len(charts.CHARTS) + 3)
        figures = gather(engine, period, zone, as_of, config, get_policy().response_hours, community)
        progress.advance(task)
        for name, write in writers.writers(engine, figures, config, folder, directory.street):
            progress.update(task, description=f"生成 {name}…")
            try:
                folder.mkdir(parents=True, exist_ok=True)
                write()
            except ReportError as error:
                raise _Refused(str(error)) from error
            except OSError as error:
                raise _Refused(f"没法写入 {folder / name}：{error.strerror or error}") from error
            progress.advance(task)
    print(f"{period.label()}{f'（{community}）' if community else ''}：受理工单 {figures.total} 件，"
          f"超期未办结 {figures.overdue_total} 件")
    print(f"报表已生成：{folder}")
    return 0
