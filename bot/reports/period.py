"""The figures of a week's or month's report: counts, high-frequency lists, overdue tickets."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Callable, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select

from bot.config.report import ReportConfig
from bot.core.db import room_to_hash, session_scope
from bot.reports import rates
from bot.reports.rates import Report as RatesReport
from bot.tickets.models import Ticket
from bot.tickets.status import OPEN_VALUES


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
    rates: RatesReport
    previous_rates: RatesReport


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
        room_to_hash(session)
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


def repeats(engine, start: datetime, end: datetime, categories, at_least: int) -> list[tuple[tuple, int]]:
    """Buildings × categories with at least ``at_least`` residents' tickets in [start, end): the
    heat map's counts, for 未诉先办 (proactive cases are not counted: they are the answer)."""
    where = [Ticket.created_at >= start, Ticket.created_at < end, Ticket.building.isnot(None),
             Ticket.category.in_(tuple(categories)), Ticket.source != "proactive", Ticket.merged_into.is_(None)]
    with session_scope(engine) as session:
        counts = _counted(session, (Ticket.community, Ticket.building, Ticket.category), where)
    return sorted(((key, n) for key, n in counts.items() if n >= at_least), key=lambda item: (-item[1], item[0]))


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
    late = [*scope, Ticket.status.in_(OPEN_VALUES), Ticket.deadline < as_of, Ticket.created_at < as_of]
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


def format_moment(moment: Optional[datetime], zone: ZoneInfo, form: str = "%Y-%m-%d %H:%M") -> str:
    return moment.astimezone(zone).strftime(form) if moment else ""



def place_label(community: Optional[str], building: Optional[str], config: ReportConfig) -> str:
    return f"{community or config.unlocated}{f' {building}号楼' if building else ''}"
