"""The 数据 page's numbers: ``bot.period_report.gather`` (the same figures as `linli report`) for the
period and community chosen on the page, shaped for inline SVG charts; computed once per
``cache_seconds`` for the same choice (a month of a busy street takes seconds to count)."""
from __future__ import annotations

import logging
import threading
import time as systime
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable, Optional
from zoneinfo import ZoneInfo

from bot.config.report import ReportConfig
from bot.reports import writers
from bot.reports.period import Figures, Period, as_of_moment, gather

log = logging.getLogger(__name__)
PALETTE = ("#2f6fb0", "#e8793a", "#3a9d5d", "#c8423b", "#8a63b8", "#8c6d52", "#d16fae", "#7f7f7f", "#b5b531",
           "#2fb4c2")


class PeriodError(ValueError):
    """A period the page cannot show; the message is for staff."""


@dataclass(frozen=True)
class Choice:
    kind: str  # week | month | custom
    period: Period
    as_of_day: date
    community: Optional[str]


def choose(args, today: date, max_days: int, communities: list[str], scope: tuple[str, ...]) -> Choice:
    """The period and community from the page's query (defaults: last whole week, the first community
    a community's staff member serves, or the whole street)."""
    kind = args.get("period") or "week"
    try:
        as_of_day = date.fromisoformat(args.get("as_of")) if args.get("as_of") else today
    except ValueError:
        as_of_day = today
    as_of_day = min(as_of_day, today)
    if kind == "custom":
        try:
            first, last = date.fromisoformat(args.get("from") or ""), date.fromisoformat(args.get("to") or "")
        except ValueError:
            raise PeriodError("自选日期请写成 2026-11-01 这样的开始和结束日期。") from None
        if first > last:
            raise PeriodError("开始日期晚于结束日期。")
        if last > today:
            raise PeriodError("结束日期不能晚于今天。")
        if (last - first).days + 1 > max_days:
            raise PeriodError(f"自选日期最长{max_days}天。")
        # high-frequency thresholds are set per week or month: a custom period uses the nearer one
        period = Period("week" if (last - first).days < 14 else "month", first, last)
        as_of_day = last
    elif kind in ("week", "month"):
        period = Period.ending_by(kind, as_of_day)
    elif kind in ("this_week", "this_month"):  # so far: from Monday or the 1st to the as-of day
        first = as_of_day - timedelta(days=as_of_day.isoweekday() - 1) if kind == "this_week" else as_of_day.replace(day=1)
        period = Period(kind.split("_")[1], first, as_of_day)
    else:
        raise PeriodError("周期只能按周、按月或自选日期。")
    community = args.get("community") or None
    if scope:
        community = community if community in scope else scope[0]
    elif community not in communities:
        community = None
    return Choice(kind, period, as_of_day, community)


_cache: dict = {}
_lock = threading.Lock()


def figures(engine, choice: Choice, zone: ZoneInfo, now: datetime, config: ReportConfig, response_hours: dict,
            cache_seconds: float, refresh: bool = False) -> Figures:
    as_of = as_of_moment(choice.as_of_day, zone, now)
    key = (str(engine.url), choice.period, choice.community, as_of if as_of < now else None)
    with _lock:
        hit = _cache.get(key)
        if hit and hit[0] > systime.monotonic() and not refresh:
            return hit[1]
    found = gather(engine, choice.period, zone, as_of, config, response_hours, choice.community)
    with _lock:
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = (systime.monotonic() + cache_seconds, found)
    return found


def keep_warm(engine, choices: Callable[[], list[Choice]], zone: ZoneInfo, clock: Callable[[], datetime],
              config: ReportConfig, response_hours: dict, cache_seconds: float) -> threading.Thread:
    """Computes the figures the page opens with (last whole week, the street and each community)
    ahead of staff and again before they go stale, so opening 数据 does not wait for the count."""
    def loop() -> None:
        while True:
            started = systime.monotonic()
            for choice in choices():
                try:
                    figures(engine, choice, zone, clock(), config, response_hours, cache_seconds, refresh=True)
                except Exception:  # noqa: BLE001 - a failed warm-up only means a slower first page
                    log.exception("figures for %s not computed ahead", choice)
            systime.sleep(max(cache_seconds * 0.8 - (systime.monotonic() - started), 5))

    thread = threading.Thread(target=loop, name="figures-warm", daemon=True)
    thread.start()
    return thread


def neighbours(choice: Choice, today: date) -> dict:
    """The as-of days that show the period before and the one after (None: it has not ended yet)."""
    period = choice.period
    if choice.kind not in ("week", "month"):
        return {"previous": None, "next": None}
    if period.kind == "week":
        last_next = period.last + timedelta(days=7)
    else:
        first_next = period.last + timedelta(days=1)
        last_next = Period.ending_by("month", (first_next.replace(day=28) + timedelta(days=4)).replace(day=1)
                                     - timedelta(days=1)).last
    return {"previous": (period.first - timedelta(days=1)).isoformat(),
            "next": last_next.isoformat() if last_next <= today else None}


# -- chart data ------------------------------------------------------------------------------------

def daily(f: Figures, config: ReportConfig) -> dict:
    """Tickets per day, stacked by category (the busiest categories one by one, the rest together)."""
    ranked = [c.key[0] for c in f.categories if c.now]
    drawn, rest = ranked[:config.chart_categories_max], set(ranked[config.chart_categories_max:])
    series: list[tuple[Optional[str], str, list[int]]] = [
        (config.category(code), PALETTE[i % len(PALETTE)], [f.daily_categories.get((d, code), 0)
                                                             for d in range(f.period.days)])
        for i, code in enumerate(drawn)]
    if rest:
        series.append((None, "#bbbbbb", [sum(n for (d, code), n in f.daily_categories.items()
                                             if d == day and code in rest) for day in range(f.period.days)]))
    totals = [sum(s[2][d] for s in series) for d in range(f.period.days)]
    days = [f.period.day(d) for d in range(f.period.days)]
    return {"series": series, "totals": totals, "days": days, "peak": max(totals or [0]) or 1}


def heatmap(f: Figures, config: ReportConfig) -> dict:
    per_building: dict = {}
    for (community, building, _), n in f.heatmap.items():
        per_building[(community, building)] = per_building.get((community, building), 0) + n
    busiest = sorted(per_building, key=lambda b: -per_building[b])[:config.heatmap_buildings_max]
    rows = sorted(busiest, key=lambda b: (b[0] or "", int(b[1]) if str(b[1]).isdigit() else 10**6, str(b[1])))
    columns = [c.key[0] for c in f.categories if any(f.heatmap.get((*row, c.key[0])) for row in rows)]
    matrix = [[f.heatmap.get((*row, code), 0) for code in columns] for row in rows]
    peak = max((max(r) for r in matrix if r), default=0) or 1
    return {"rows": rows, "columns": [(code, config.category(code)) for code in columns], "matrix": matrix,
            "peak": peak}


def ageing(f: Figures, config: ReportConfig) -> dict:
    labels = config.ageing_labels()
    kinds = sorted({kind for _, kind in f.overdue_ageing},
                   key=lambda k: list(config.handler_kinds).index(k) if k in config.handler_kinds else 99)
    series = [(config.handler_kinds.get(kind, kind or ""), PALETTE[i % len(PALETTE)],
               [f.overdue_ageing.get((b, kind), 0) for b in range(len(labels))]) for i, kind in enumerate(kinds)]
    totals = [sum(s[2][b] for s in series) for b in range(len(labels))]
    return {"labels": labels, "series": series, "totals": totals, "peak": max(totals or [0]) or 1}


def overdue_for(as_of: datetime, deadline: datetime) -> str:
    return writers.overdue_for(as_of, deadline)
