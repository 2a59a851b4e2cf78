"""The weekly (or monthly) picture for community staff: `linli report --period week|month`.

A report is a folder: ``summary.md`` (figures in Chinese, to read and forward), ``tickets.csv`` (the
period's tickets, phone and room masked, UTF-8 with BOM so Excel opens it) and PNG charts. Every
figure is counted by the database (GROUP BY over the period's rows) and the ticket list is streamed,
so a month of 100,000 tickets never sits in memory as ticket objects. The three rates are
``bot.rates``' numbers, the same ones `linli report` prints.

Periods are calendar weeks (Monday to Sunday) and calendar months in local time; a report covers
the last whole one that ends on or before its as-of day. Trends compare with the period of the same
number of days just before. Reporters are named by channel and a masked id, never by id or phone.
Charts use the Simplified Chinese font that mplfonts ships (Noto Sans CJK SC), and a chart that
would show a missing glyph is an error rather than a picture of empty boxes.
"""
from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Callable, Iterable, Optional
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import and_, case, func, or_, select

from bot import rates
from bot.db import session_scope
from bot.models import Ticket
from bot.tickets import OPEN_STATUSES, mask_phone, mask_room, mask_text

PERIOD_KINDS = ("week", "month")
CJK_FONT_FILE = "NotoSansCJKsc-Regular.otf"
_OPEN = [s.value for s in OPEN_STATUSES]
_GLYPH_MISSING = r"Glyph \d+ .*missing from current font"


class ReportError(Exception):
    """A report that cannot be made; the message is for staff, in Chinese."""


# -- periods ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    kind: str  # week | month
    first: date
    last: date

    @classmethod
    def ending_by(cls, kind: str, as_of: date) -> "Period":
        """The last whole week (Monday–Sunday) or month that ends on or before ``as_of``: run on a
        Monday, the weekly report is last week's."""
        if kind == "week":
            last = as_of - timedelta(days=as_of.isoweekday() % 7)
            return cls(kind, last - timedelta(days=6), last)
        if kind == "month":
            ends_today = (as_of + timedelta(days=1)).month != as_of.month
            last = as_of if ends_today else as_of.replace(day=1) - timedelta(days=1)
            return cls(kind, last.replace(day=1), last)
        raise ValueError(f"unknown period {kind}")

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> "Period":
        """The same number of days just before: counts compare like with like even when months
        differ in length."""
        return Period(self.kind, self.first - timedelta(days=self.days), self.first - timedelta(days=1))

    def day(self, index: int) -> date:
        return self.first + timedelta(days=index)

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        return (datetime.combine(self.first, time(), zone),
                datetime.combine(self.last + timedelta(days=1), time(), zone))

    def label(self) -> str:
        return f"{self.first.isoformat()} 至 {self.last.isoformat()}"


def as_of_moment(as_of: date, zone: ZoneInfo, now: datetime) -> datetime:
    """The end of the as-of day, or now if that is still to come."""
    return min(now, datetime.combine(as_of + timedelta(days=1), time(), zone))


# -- configuration ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportConfig:
    """The ``report:`` section of service.yml (see the comments there), plus the labels of codes."""

    out_dir: str
    thresholds: dict  # period kind -> {"building": n, "category": n, "reporter": n}
    list_max: int
    reporter_ticket_ids: int
    overdue_list_max: int
    overdue_ageing_days: tuple[int, ...]
    chart_categories_max: int
    heatmap_buildings_max: int
    handler_kinds: dict
    sources: dict
    channels: dict
    unlocated: str
    categories: dict  # code -> label, from the service policy
    statuses: dict  # code -> label
    tiers: dict  # code -> label

    @classmethod
    def load(cls, path: Path | str, service) -> "ReportConfig":
        raw = (yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}).get("report")
        try:
            labels = raw["labels"]
            config = cls(out_dir=str(raw["out_dir"]),
                         thresholds={kind: {k: int(raw["high_frequency"][kind][k])
                                            for k in ("building", "category", "reporter")} for kind in PERIOD_KINDS},
                         list_max=int(raw["list_max"]), reporter_ticket_ids=int(raw["reporter_ticket_ids"]),
                         overdue_list_max=int(raw["overdue_list_max"]),
                         overdue_ageing_days=tuple(int(d) for d in raw["overdue_ageing_days"]),
                         chart_categories_max=int(raw["chart_categories_max"]),
                         heatmap_buildings_max=int(raw["heatmap_buildings_max"]),
                         handler_kinds=dict(labels["handler_kinds"]), sources=dict(labels["sources"]),
                         channels=dict(labels["channels"]), unlocated=str(labels["unlocated"]),
                         categories={code: c.label for code, c in service.categories.items()},
                         statuses=dict(service.status_labels), tiers=dict(service.tiers))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: report: missing or malformed setting: {error}") from error
        edges = config.overdue_ageing_days
        if not edges or list(edges) != sorted(set(edges)) or edges[0] <= 0:
            raise ValueError(f"{path}: report.overdue_ageing_days must be increasing positive days")
        return config

    def category(self, code: str) -> str:
        return self.categories.get(code, code)

    def reporter(self, channel: str, sender_id: str) -> str:
        return f"{self.channels.get(channel, channel)}·{mask_sender(sender_id)}"

    def ageing_labels(self) -> list[str]:
        edges = self.overdue_ageing_days
        return ([f"{edges[0]}天以内"] + [f"{a}–{b}天" for a, b in zip(edges, edges[1:])]
                + [f"{edges[-1]}天以上"])


def mask_sender(sender_id: str) -> str:
    """Enough to tell two reporters apart in one list, not to find or contact them; the length of
    the id is hidden too."""
    keep = 2 if len(sender_id) >= 8 else 1 if len(sender_id) >= 4 else 0
    return f"{sender_id[:keep]}****{sender_id[len(sender_id) - keep:] if keep else ''}"


# -- figures ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Count:
    """One row of a list: a building, category or reporter, now and in the period before."""

    key: tuple
    now: int
    before: int
    tickets: tuple[str, ...] = ()

    @property
    def change(self) -> int:
        return self.now - self.before


@dataclass(frozen=True)
class HighFrequency:
    threshold: int
    total: int  # how many reached the threshold
    entries: tuple[Count, ...]  # the first list_max of them, most tickets first


@dataclass(frozen=True)
class OverdueTicket:
    id: str
    category: str
    community: Optional[str]
    building: Optional[str]
    handler_name: Optional[str]
    deadline: datetime
    status: str


@dataclass(frozen=True)
class Figures:
    period: Period
    community: Optional[str]
    as_of: datetime
    zone: ZoneInfo
    total: int
    previous_total: int
    merged: int  # of ``total``, reports staff merged into another ticket (the same problem)
    statuses: dict  # status -> tickets of the period now in it
    categories: tuple[Count, ...]  # every category with tickets in either period
    daily_categories: dict  # (day index, category) -> tickets
    daily_communities: dict  # (day index, community or None) -> tickets
    heatmap: dict  # (community, building, category) -> tickets
    places: HighFrequency
    kinds: HighFrequency
    people: HighFrequency
    overdue_total: int
    overdue_ageing: dict  # (bucket index, handler kind) -> tickets
    overdue: tuple[OverdueTicket, ...]
    rates: rates.Report
    previous_rates: rates.Report


def gather(engine, period: Period, zone: ZoneInfo, as_of: datetime, config: ReportConfig, response_hours: dict,
           community: str | None = None) -> Figures:
    """Everything the summary and the charts show, each number from one aggregate query."""
    start, end = period.bounds(zone)
    before_start, _ = period.previous().bounds(zone)
    scope = [Ticket.community == community] if community else []
    now = [*scope, Ticket.created_at >= start, Ticket.created_at < end]
    both = [*scope, Ticket.created_at >= before_start, Ticket.created_at < end]
    thresholds = config.thresholds[period.kind]
    with session_scope(engine) as session:
        totals = _compared(session, (), both, start)
        categories = _compared(session, (Ticket.category,), both, start)
        places = _compared(session, (Ticket.community, Ticket.building), [*both, Ticket.building.isnot(None)],
                           start, thresholds["building"])
        people = _compared(session, (Ticket.reporter_channel, Ticket.reporter_id), both, start,
                           thresholds["reporter"])
        figures = dict(
            merged=session.execute(select(func.count()).where(*now, Ticket.merged_into.isnot(None))).scalar(),
            statuses={**{s: 0 for s in config.statuses}, **_counted(session, (Ticket.status,), now)},
            daily_categories=_daily(session, Ticket.category, now, period, zone),
            daily_communities=_daily(session, Ticket.community, now, period, zone),
            heatmap=_counted(session, (Ticket.community, Ticket.building, Ticket.category),
                             [*now, Ticket.building.isnot(None)]),
            people=_listed(people, thresholds["reporter"], config.list_max,
                           lambda shown: _latest_tickets(session, shown, now, config.reporter_ticket_ids)),
            **_overdue(session, scope, as_of, config))
    total = totals[0] if totals else Count((), 0, 0)
    kinds = [c for c in categories if c.now >= thresholds["category"]]
    return Figures(period=period, community=community, as_of=as_of, zone=zone, total=total.now,
                   previous_total=total.before, categories=tuple(categories),
                   places=_listed(places, thresholds["building"], config.list_max),
                   kinds=_listed(kinds, thresholds["category"], config.list_max),
                   rates=rates.compute(engine, response_hours, start, end, as_of, community),
                   previous_rates=rates.compute(engine, response_hours, before_start, start, as_of, community),
                   **figures)


def _compared(session, keys: tuple, where: list, start: datetime, at_least: int | None = None) -> list[Count]:
    """Tickets per key in the period (created from ``start``) and in the one before, most first;
    with ``at_least``, only keys with that many in the period (HAVING, so the database drops the
    long tail of one-off reporters)."""
    now = func.sum(case((Ticket.created_at >= start, 1), else_=0))
    query = select(*keys, now.label("now"), func.count().label("all")).where(*where)
    if keys:
        query = query.group_by(*keys)
    if at_least is not None:
        query = query.having(now >= at_least)
    rows = session.execute(query).all()
    counts = [Count(tuple(row[:-2]), int(row.now or 0), int(row.all) - int(row.now or 0)) for row in rows]
    return sorted(counts, key=lambda c: (-c.now, -c.before, [str(k) for k in c.key]))


def _counted(session, keys: tuple, where: list) -> dict:
    rows = session.execute(select(*keys, func.count()).where(*where).group_by(*keys)).all()
    return {(row[0] if len(keys) == 1 else tuple(row[:-1])): row[-1] for row in rows}


def _daily(session, key, where: list, period: Period, zone: ZoneInfo) -> dict:
    """(day index, key) -> tickets. Days are cut at local midnights given as parameters, so the
    same SQL works on SQLite and PostgreSQL; grouping happens on a subquery, as PostgreSQL does not
    see two renderings of one expression with parameters as the same."""
    midnights = [datetime.combine(period.day(i), time(), zone) for i in range(1, period.days)]
    day = case(*[(Ticket.created_at < moment, index) for index, moment in enumerate(midnights)],
               else_=len(midnights))
    rows = select(day.label("day"), key.label("key")).where(*where).subquery()
    return _counted(session, (rows.c.day, rows.c.key), [])


def _overdue(session, scope: list, as_of: datetime, config: ReportConfig) -> dict:
    """Open tickets past their deadline at ``as_of``, from any period: they are what staff chase."""
    late = [*scope, Ticket.status.in_(_OPEN), Ticket.deadline < as_of, Ticket.created_at < as_of]
    edges = config.overdue_ageing_days
    bucket = case(*[(Ticket.deadline >= as_of - timedelta(days=d), i) for i, d in enumerate(edges)],
                  else_=len(edges))
    buckets = select(bucket.label("bucket"), Ticket.handler_kind.label("kind")).where(*late).subquery()
    listed = session.execute(select(Ticket.id, Ticket.category, Ticket.community, Ticket.building,
                                    Ticket.handler_name, Ticket.deadline, Ticket.status)
                             .where(*late).order_by(Ticket.deadline, Ticket.id).limit(config.overdue_list_max))
    return {"overdue_total": session.execute(select(func.count()).where(*late)).scalar(),
            "overdue_ageing": _counted(session, (buckets.c.bucket, buckets.c.kind), []),
            "overdue": tuple(OverdueTicket(*row) for row in listed)}


def _listed(counts: list[Count], threshold: int, most: int,
            with_tickets: Callable[[list[Count]], dict] | None = None) -> HighFrequency:
    shown = counts[:most]
    if with_tickets and shown:
        ids = with_tickets(shown)
        shown = [Count(c.key, c.now, c.before, tuple(ids.get(c.key, ()))) for c in shown]
    return HighFrequency(threshold, len(counts), tuple(shown))


def _latest_tickets(session, reporters: list[Count], where: list, most: int) -> dict:
    """The latest tickets of each listed reporter, for staff to open with `linli tickets show`."""
    who = or_(*[and_(Ticket.reporter_channel == c.key[0], Ticket.reporter_id == c.key[1]) for c in reporters])
    rows = session.execute(select(Ticket.reporter_channel, Ticket.reporter_id, Ticket.id).where(*where, who)
                           .order_by(Ticket.created_at.desc(), Ticket.id.desc()))
    found: dict = {}
    for channel, sender_id, ticket_id in rows:
        ids = found.setdefault((channel, sender_id), [])
        if len(ids) < most:
            ids.append(ticket_id)
    return found


# -- writing ---------------------------------------------------------------------------------------

def default_folder(var_dir: Path, config: ReportConfig, period: Period, community: str | None) -> Path:
    return Path(var_dir) / config.out_dir / "-".join(filter(None, (period.kind, period.first.isoformat(), community)))


def writers(engine, figures: Figures, config: ReportConfig, folder: Path,
            street: str) -> list[tuple[str, Callable[[], Path]]]:
    """(file name, write it) for every file of the report, in order: the CLI shows progress per file."""
    files = [("summary.md", lambda: write_summary(figures, config, folder / "summary.md", street)),
             ("tickets.csv", lambda: write_tickets(engine, figures, config, folder / "tickets.csv"))]
    return files + [(name, (lambda n=name, d=draw: render_chart(d, figures, config, folder / n)))
                    for name, draw in CHARTS.items()]


def make(engine, period: Period, zone: ZoneInfo, as_of: datetime, config: ReportConfig, response_hours: dict,
         folder: Path, street: str, community: str | None = None) -> tuple[Figures, list[Path]]:
    """The whole report at once (tests, benchmark); the CLI runs the same steps with progress."""
    figures = gather(engine, period, zone, as_of, config, response_hours, community)
    folder.mkdir(parents=True, exist_ok=True)
    return figures, [write() for _, write in writers(engine, figures, config, folder, street)]


def _local(moment: Optional[datetime], zone: ZoneInfo, form: str = "%Y-%m-%d %H:%M") -> str:
    return moment.astimezone(zone).strftime(form) if moment else ""


def _signed(change: int) -> str:
    return f"+{change}" if change > 0 else str(change)


def _percent(rate: rates.Rate) -> str:
    return "—" if rate.value is None else f"{rate.value:.1%}"


def _place(community: Optional[str], building: Optional[str], config: ReportConfig) -> str:
    return f"{community or config.unlocated}{f' {building}号楼' if building else ''}"


def _overdue_for(as_of: datetime, deadline: datetime) -> str:
    hours = int((as_of - deadline).total_seconds() // 3600)
    return f"{hours // 24}天{hours % 24}小时" if hours >= 24 else f"{hours}小时"


def _table(header: Iterable[str], rows: Iterable[Iterable]) -> list[str]:
    header = list(header)
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]]


def write_summary(figures: Figures, config: ReportConfig, path: Path, street: str) -> Path:
    f, zone = figures, figures.zone
    previous = f.period.previous()
    kind = "周报" if f.period.kind == "week" else "月报"
    lines = [f"# {street}接诉即办{kind}{f'（{f.community}）' if f.community else ''}", "",
             f"- 周期：{f.period.label()}，共 {f.period.days} 天",
             f"- 对比：上一周期 {previous.label()}（同样 {previous.days} 天）",
             f"- 数据截至：{_local(f.as_of, zone)}（工单状态为生成报表时的状态）", "",
             "## 一、工单概况", "",
             f"本周期受理工单 **{f.total}** 件，上一周期 {f.previous_total} 件（{_signed(f.total - f.previous_total)}）"
             + (f"；其中 {f.merged} 件是同一问题的重复反映，已并入其他工单。" if f.merged else "。"),
             "", "### 按状态", "",
             *_table(("状态", "工单数"), [(config.statuses.get(s, s), n) for s, n in f.statuses.items()]),
             "", "### 按类别", ""]
    if f.categories:
        lines += _table(("类别", "本周期", "上一周期", "变化"),
                        [(config.category(c.key[0]), c.now, c.before, _signed(c.change)) for c in f.categories])
    else:
        lines.append("本周期和上一周期都没有工单。")
    lines += ["", *_rates_section(f), "", *_overdue_section(f, config), "",
              *_high_frequency_section(f, config), "", "## 附件", "",
              "- `tickets.csv`：本周期全部工单（电话、门牌号、反映人已脱敏），可直接用 Excel 打开",
              *[f"- `{name}`：{title}" for name, title in CHART_TITLES.items()], ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _rates_section(f: Figures) -> list[str]:
    def row(name: str, now: rates.Rate, before: rates.Rate, detail: str) -> tuple:
        return (name, _percent(now), f"{now.numerator}/{now.denominator}", detail,
                f"{_percent(before)}（{before.numerator}/{before.denominator}）")

    r, s, sat = f.rates.response.counts, f.rates.resolution.counts, f.rates.satisfaction.counts
    followups = f.rates.followups
    return ["## 二、三率", "",
            *_table(("指标", "本周期", "分子/分母", "明细", "上一周期"), [
                row("响应率", f.rates.response, f.previous_rates.response,
                    f"按时 {r['in_time']}，超时响应 {r['late']}，未响应 {r['none']}，未到响应时限 {r['pending']}"),
                row("解决率", f.rates.resolution, f.previous_rates.resolution,
                    f"已解决 {s['solved']}，部分解决 {s['partly']}，没解决 {s['unsolved']}"),
                row("满意率", f.rates.satisfaction, f.previous_rates.satisfaction,
                    f"满意 {sat['satisfied']}，基本满意 {sat['basically']}，不满意 {sat['dissatisfied']}")]),
            "", f"回访：已答复 {followups['answered']}，未应答 {followups['no_answer']}，"
                f"等待答复 {followups['awaiting_answer']}。", "",
            "口径：响应率看本周期受理的工单是否在响应时限内有人接单、办结或写进展（还没到时限的不计入）；"
            "解决率和满意率看本周期内结束的回访，没答复的回访不算满意。"]


def _overdue_section(f: Figures, config: ReportConfig) -> list[str]:
    lines = ["## 三、超期未办结工单", ""]
    if not f.overdue_total:
        return lines + [f"截至 {_local(f.as_of, f.zone)} 没有超期未办结的工单。"]
    ageing = [sum(n for (bucket, _), n in f.overdue_ageing.items() if bucket == i)
              for i in range(len(config.overdue_ageing_days) + 1)]
    lines += [f"截至 {_local(f.as_of, f.zone)} 共 **{f.overdue_total}** 件（含本周期以前受理的）。按超期时长："
              + "，".join(f"{label} {n} 件" for label, n in zip(config.ageing_labels(), ageing)) + "。", "",
              *_table(("工单号", "类别", "地点", "承办单位", "办理时限", "已超期", "状态"),
                      [(t.id, config.category(t.category), _place(t.community, t.building, config),
                        t.handler_name or "", _local(t.deadline, f.zone), _overdue_for(f.as_of, t.deadline),
                        config.statuses.get(t.status, t.status)) for t in f.overdue])]
    if f.overdue_total > len(f.overdue):
        lines += ["", f"另有 {f.overdue_total - len(f.overdue)} 件未列出（超期最久的排在前面）。"]
    return lines


def _high_frequency_section(f: Figures, config: ReportConfig) -> list[str]:
    def block(title: str, what: str, found: HighFrequency, header: tuple, row: Callable[[Count], tuple]) -> list[str]:
        lines = [f"### {title}（本周期 ≥ {found.threshold} 件）", ""]
        if not found.total:
            return lines + [f"本周期没有达到 {found.threshold} 件的{what}。", ""]
        lines += _table(header, [row(c) for c in found.entries])
        if found.total > len(found.entries):
            lines += ["", f"共 {found.total} 个{what}达到，列出前 {len(found.entries)} 个。"]
        return lines + [""]

    trend = ("本周期", "上一周期", "变化")
    return ["## 四、高频诉求", "",
            *block("高频诉求地", "楼栋", f.places, ("楼栋", *trend),
                   lambda c: (_place(c.key[0], c.key[1], config), c.now, c.before, _signed(c.change))),
            *block("高频诉求事", "类别", f.kinds, ("类别", *trend),
                   lambda c: (config.category(c.key[0]), c.now, c.before, _signed(c.change))),
            *block("高频诉求人", "反映人", f.people, ("反映人（已脱敏）", *trend, "本周期工单"),
                   lambda c: (config.reporter(*c.key), c.now, c.before, _signed(c.change), "、".join(c.tickets)))]


CSV_HEADER = ("工单号", "受理时间", "类别", "社区", "楼号", "单元", "房号", "联系电话", "反映人", "来源",
              "承办单位类型", "承办单位", "处理层级", "办理时限", "状态", "是否超期", "合并至", "问题描述")


def write_tickets(engine, figures: Figures, config: ReportConfig, path: Path, batch: int = 2000) -> Path:
    """The period's tickets, oldest first, streamed from the database in batches."""
    start, end = figures.period.bounds(figures.zone)
    scope = [Ticket.community == figures.community] if figures.community else []
    query = (select(Ticket.id, Ticket.created_at, Ticket.category, Ticket.community, Ticket.building, Ticket.unit,
                    Ticket.room, Ticket.phone, Ticket.reporter_channel, Ticket.reporter_id, Ticket.source,
                    Ticket.handler_kind, Ticket.handler_name, Ticket.tier, Ticket.deadline, Ticket.status,
                    Ticket.merged_into, Ticket.description)
             .where(*scope, Ticket.created_at >= start, Ticket.created_at < end)
             .order_by(Ticket.created_at, Ticket.id))
    with path.open("w", encoding="utf-8-sig", newline="") as out, engine.connect() as connection:
        writer = csv.writer(out)
        writer.writerow(CSV_HEADER)
        result = connection.execution_options(stream_results=True, max_row_buffer=batch).execute(query)
        for rows in result.partitions(batch):
            writer.writerows(_csv_row(t, figures, config) for t in rows)
    return path


def _csv_row(t, figures: Figures, config: ReportConfig) -> tuple:
    late = t.status in _OPEN and t.deadline is not None and t.deadline < figures.as_of
    return (t.id, _local(t.created_at, figures.zone), config.category(t.category), t.community or "",
            t.building or "", t.unit or "", mask_room(t.room) or "", mask_phone(t.phone) or "",
            config.reporter(t.reporter_channel, t.reporter_id), config.sources.get(t.source, t.source),
            config.handler_kinds.get(t.handler_kind, t.handler_kind or ""), t.handler_name or "",
            config.tiers.get(t.tier, t.tier or ""), _local(t.deadline, figures.zone), config.statuses.get(t.status, t.status),
            "是" if late else "否", t.merged_into or "", mask_text(t.description))


# -- charts ----------------------------------------------------------------------------------------

def cjk_font() -> str:
    """Registers mplfonts' Noto Sans CJK SC with matplotlib (once per process) and returns its
    family name. matplotlib 3.5 has no per-glyph fallback, so every label is drawn in this font."""
    from matplotlib import font_manager
    from mplfonts.conf import FONT_DIR

    path = str(Path(FONT_DIR) / CJK_FONT_FILE)
    if not any(entry.fname == path for entry in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def render_chart(draw: Callable, figures: Figures, config: ReportConfig, path: Path) -> Path:
    """One PNG, drawn and saved with the CJK font; a glyph it lacks raises instead of leaving boxes."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    style = {"font.family": "sans-serif", "font.sans-serif": [cjk_font()], "axes.unicode_minus": False}
    with matplotlib.rc_context(style), warnings.catch_warnings():
        warnings.filterwarnings("error", message=_GLYPH_MISSING)
        figure = Figure(figsize=(10, 5.5), dpi=110, constrained_layout=True)
        FigureCanvasAgg(figure)
        try:
            draw(figure, figures, config)
            figure.savefig(path)
        except UserWarning as error:
            raise ReportError(f"图表字体缺字，没有生成 {path.name}：{error}") from error
    return path


def _nothing(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=16, color="#666666", transform=ax.transAxes)
    ax.set_axis_off()


def _counts_axis(ax, top: int) -> None:
    """Whole tickets on the y axis, with room above the tallest bar for its label."""
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(top, 1) * 1.15)
    ax.set_ylabel("工单数（件）")


def _day_ticks(ax, period: Period) -> list[int]:
    days = list(range(period.days))
    ax.set_xticks(days)
    ax.set_xticklabels([period.day(i).strftime("%m-%d") for i in days], rotation=45 if period.days > 7 else 0,
                       fontsize=8 if period.days > 7 else 10)
    return days


def _chart_categories(figure, f: Figures, config: ReportConfig) -> None:
    ax = figure.subplots()
    ax.set_title(f"各类别工单数（按天，{f.period.label()}）")
    if not f.total:
        return _nothing(ax, "本周期没有工单")
    ranked = [c.key[0] for c in f.categories if c.now]
    drawn, rest = ranked[:config.chart_categories_max], set(ranked[config.chart_categories_max:])
    series = {config.category(code): [f.daily_categories.get((d, code), 0) for d in range(f.period.days)]
              for code in drawn}
    if rest:
        series["其他类别"] = [sum(n for (d, code), n in f.daily_categories.items() if d == day and code in rest)
                          for day in range(f.period.days)]
    bottom = [0] * f.period.days
    colours = _colours(len(series))
    days = _day_ticks(ax, f.period)
    for (label, values), colour in zip(series.items(), colours):
        ax.bar(days, values, bottom=bottom, label=label, color=colour)
        bottom = [b + v for b, v in zip(bottom, values)]
    _counts_axis(ax, max(bottom))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9)


def _chart_communities(figure, f: Figures, config: ReportConfig) -> None:
    ax = figure.subplots()
    ax.set_title(f"各社区工单数（按天，{f.period.label()}）")
    if not f.total:
        return _nothing(ax, "本周期没有工单")
    days = _day_ticks(ax, f.period)
    names = sorted({name for _, name in f.daily_communities}, key=lambda n: (n is None, n or ""))
    for name, colour in zip(names, _colours(len(names))):
        ax.plot(days, [f.daily_communities.get((d, name), 0) for d in days], marker="o", label=name or config.unlocated,
                color=colour)
    _counts_axis(ax, max(f.daily_communities.values()))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))


def _chart_rates(figure, f: Figures, config: ReportConfig) -> None:
    ax = figure.subplots()
    ax.set_title("三率：本周期与上一周期")
    names = ("响应率", "解决率", "满意率")
    pairs = ((f.rates.response, f.previous_rates.response), (f.rates.resolution, f.previous_rates.resolution),
             (f.rates.satisfaction, f.previous_rates.satisfaction))
    width = 0.38
    for offset, label, colour, which in ((-width / 2, "本周期", "#2f6fb0", 0), (width / 2, "上一周期", "#a9c4e2", 1)):
        positions = [i + offset for i in range(len(names))]
        values = [(pair[which].value or 0) * 100 for pair in pairs]
        ax.bar(positions, values, width, label=label, color=colour)
        for x, value, pair in zip(positions, values, pairs):
            rate = pair[which]
            text = "无数据" if rate.value is None else f"{value:.1f}%\n{rate.numerator}/{rate.denominator}"
            ax.text(x, value + 1.5, text, ha="center", va="bottom", fontsize=9)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.set_ylim(0, 118)
    ax.set_ylabel("比率（%）")
    ax.legend(loc="upper right")


def _chart_heatmap(figure, f: Figures, config: ReportConfig) -> None:
    ax = figure.subplots()
    ax.set_title("楼栋 × 类别 工单数（本周期）")
    per_building: dict = {}
    for (community, building, _), n in f.heatmap.items():
        per_building[(community, building)] = per_building.get((community, building), 0) + n
    if not per_building:
        return _nothing(ax, "本周期没有注明楼栋的工单")
    busiest = sorted(per_building, key=lambda b: -per_building[b])[:config.heatmap_buildings_max]
    rows = sorted(busiest, key=lambda b: (b[0] or "", int(b[1]) if b[1].isdigit() else 10**6, b[1]))
    columns = [c.key[0] for c in f.categories if any(f.heatmap.get((*row, c.key[0])) for row in rows)]
    matrix = [[f.heatmap.get((*row, code), 0) for code in columns] for row in rows]
    figure.set_size_inches(max(8, 1.1 * len(columns) + 3), max(4, 0.38 * len(rows) + 2))
    image = ax.imshow(matrix, cmap="OrRd", aspect="auto")
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels([config.category(code) for code in columns], rotation=30, ha="right")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([_place(*row, config) for row in rows])
    peak = max(max(row) for row in matrix) or 1
    for y, row in enumerate(matrix):
        for x, n in enumerate(row):
            if n:
                ax.text(x, y, str(n), ha="center", va="center", fontsize=8,
                        color="white" if n > peak * 0.6 else "black")
    figure.colorbar(image, ax=ax, label="工单数（件）")


def _chart_overdue(figure, f: Figures, config: ReportConfig) -> None:
    ax = figure.subplots()
    ax.set_title(f"超期未办结工单的超期时长（截至 {_local(f.as_of, f.zone, '%m-%d %H:%M')}）")
    if not f.overdue_total:
        return _nothing(ax, "没有超期未办结的工单")
    labels = config.ageing_labels()
    kinds = sorted({kind for _, kind in f.overdue_ageing}, key=lambda k: list(config.handler_kinds).index(k)
                   if k in config.handler_kinds else len(config.handler_kinds))
    bottom = [0] * len(labels)
    for kind, colour in zip(kinds, _colours(len(kinds))):
        values = [f.overdue_ageing.get((i, kind), 0) for i in range(len(labels))]
        ax.bar(range(len(labels)), values, bottom=bottom, label=config.handler_kinds.get(kind, kind or "未派单"),
               color=colour)
        bottom = [b + v for b, v in zip(bottom, values)]
    for x, total in enumerate(bottom):
        ax.text(x, total, str(total), ha="center", va="bottom")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels([f"超期{label}" for label in labels])
    _counts_axis(ax, max(bottom))
    ax.legend(title="承办单位", loc="upper left")


def _colours(n: int) -> list:
    import matplotlib

    palette = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [palette(i % palette.N) for i in range(n)]


CHARTS = {"categories_over_time.png": _chart_categories, "communities_over_time.png": _chart_communities,
          "rates.png": _chart_rates, "building_category_heatmap.png": _chart_heatmap,
          "overdue_ageing.png": _chart_overdue}
CHART_TITLES = {"categories_over_time.png": "各类别工单数（按天）", "communities_over_time.png": "各社区工单数（按天）",
                "rates.png": "三率：本周期与上一周期", "building_category_heatmap.png": "楼栋 × 类别热力图",
                "overdue_ageing.png": "超期未办结工单的超期时长"}
