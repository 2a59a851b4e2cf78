"""Reads for the workbench's lists: the ticket queue with its filters, counts and CSV, in SQL over
the existing models. Kept in this one module so the ticket store can take them over.

No ticket object is loaded for a list (``Ticket`` rows would bring their whole history along): the
queue selects the columns it shows, one page at a time, and counts every filter's values with one
aggregate query per active filter (PostgreSQL: GROUPING SETS over a single scan).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Iterable, Iterator, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal_column, not_, select, tuple_

from bot.db import session_scope
from bot.models import Ticket
from bot.tickets import OPEN_STATUSES, mask_phone, mask_room, mask_text

_OPEN = [s.value for s in OPEN_STATUSES]
FACETS = ("status", "category", "community", "building", "handler", "tier", "source", "overdue")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class QueueFilter:
    """What staff chose on the queue page; every value is checked, unknown ones are dropped."""

    status: Optional[str] = None
    category: Optional[str] = None
    community: Optional[str] = None
    building: Optional[str] = None  # "community:building"
    handler: Optional[str] = None
    tier: Optional[str] = None
    source: Optional[str] = None
    overdue: Optional[bool] = None
    date_from: Optional[date] = None
    date_to: Optional[date] = None
    page: int = 1

    @classmethod
    def from_args(cls, args, service, sources: dict) -> "QueueFilter":
        def one(name: str) -> Optional[str]:
            value = (args.get(name) or "").strip()
            return value[:80] or None

        def day(name: str) -> Optional[date]:
            value = one(name)
            try:
                return date.fromisoformat(value) if value and _DAY.match(value) else None
            except ValueError:
                return None

        status = one("status")
        category = one("category")
        tier = one("tier")
        source = one("source")
        building = one("building")
        overdue = {"1": True, "0": False}.get(one("overdue") or "")
        try:
            page = max(1, min(int(one("page") or 1), 100_000))
        except ValueError:
            page = 1
        return cls(status=status if status in service.status_labels else None,
                   category=category if category in service.categories else None,
                   community=one("community"), building=building if building and ":" in building else None,
                   handler=one("handler"), tier=tier if tier in service.tiers else None,
                   source=source if source in sources else None, overdue=overdue,
                   date_from=day("from"), date_to=day("to"), page=page)

    def params(self, **changes) -> dict:
        """The filter as query parameters (for links), with ``changes`` applied; page 1 unless given."""
        merged = replace(self, page=1) if "page" not in changes else self
        merged = replace(merged, **changes)
        values = {"status": merged.status, "category": merged.category, "community": merged.community,
                  "building": merged.building, "handler": merged.handler, "tier": merged.tier,
                  "source": merged.source,
                  "overdue": None if merged.overdue is None else ("1" if merged.overdue else "0"),
                  "from": merged.date_from.isoformat() if merged.date_from else None,
                  "to": merged.date_to.isoformat() if merged.date_to else None,
                  "page": str(merged.page) if merged.page > 1 else None}
        return {k: v for k, v in values.items() if v is not None}

    def active(self) -> list[str]:
        return [name for name in FACETS if getattr(self, name) is not None]


def scope_conditions(subject) -> list:
    """The tickets a subject may see: a community's staff their communities, a handler its own."""
    if subject.role == "staff":
        return [Ticket.community.in_(list(subject.scope))] if subject.scope else []
    if subject.role == "handler" and subject.scope:
        return [Ticket.handler_name == subject.scope[0]]
    return [Ticket.id.is_(None)]  # nobody else sees anything


def _late(now: datetime):
    return and_(Ticket.deadline.isnot(None), Ticket.deadline < now, Ticket.status.in_(_OPEN))


def _conditions(f: QueueFilter, now: datetime, zone: ZoneInfo, without: Optional[str] = None) -> list:
    found = []
    simple = {"status": Ticket.status, "category": Ticket.category, "community": Ticket.community,
              "handler": Ticket.handler_name, "tier": Ticket.tier, "source": Ticket.source}
    for name, column in simple.items():
        value = getattr(f, name)
        if value is not None and name != without:
            found.append(column == value)
    if f.building and without != "building":
        community, _, building = f.building.partition(":")
        found += [Ticket.community == community, Ticket.building == building]
    if f.overdue is not None and without != "overdue":
        found.append(_late(now) if f.overdue else not_(_late(now)))
    if f.date_from:
        found.append(Ticket.created_at >= datetime.combine(f.date_from, time(), zone))
    if f.date_to:
        found.append(Ticket.created_at < datetime.combine(f.date_to + timedelta(days=1), time(), zone))
    return found


@dataclass(frozen=True)
class QueueRow:
    id: str
    category: str
    community: Optional[str]
    building: Optional[str]
    unit: Optional[str]
    room: Optional[str]  # masked
    phone: Optional[str]  # masked
    description: str  # masked, cut
    source: str
    handler_name: Optional[str]
    tier: Optional[str]
    status: str
    deadline: Optional[datetime]
    created_at: datetime
    overdue: bool
    seconds_left: Optional[float]  # to the deadline; negative when late; None when not open


@dataclass(frozen=True)
class Queue:
    rows: tuple[QueueRow, ...]
    total: int
    page: int
    pages: int
    counts: dict = field(default_factory=dict)  # facet -> [(value, count)], most first


_COLUMNS = (Ticket.id, Ticket.category, Ticket.community, Ticket.building, Ticket.unit, Ticket.room, Ticket.phone,
            Ticket.description, Ticket.source, Ticket.handler_name, Ticket.tier, Ticket.status, Ticket.deadline,
            Ticket.created_at)


def _order():
    """Open tickets first, the least time left first; then the others, latest deadline first."""
    open_first = case((Ticket.status.in_(_OPEN), 0), else_=1)
    return (open_first, Ticket.deadline.asc().nulls_last(), Ticket.id)


def _row(values, now: datetime, description_chars: int = 60) -> QueueRow:
    (ticket_id, category, community, building, unit, room, phone, description, source, handler, tier, status,
     deadline, created_at) = values
    is_open = status in _OPEN
    left = (deadline - now).total_seconds() if deadline and is_open else None
    text = description if len(description) <= description_chars else description[:description_chars] + "…"
    return QueueRow(ticket_id, category, community, building, unit, mask_room(room), mask_phone(phone),
                    mask_text(text), source, handler, tier, status, deadline, created_at,
                    bool(left is not None and left < 0), left)


def queue(engine, subject, f: QueueFilter, now: datetime, zone: ZoneInfo, page_size: int,
          facet_max: int = 40) -> Queue:
    """One page of the queue, with the count of every filter value under the other filters."""
    scope = scope_conditions(subject)
    where = [*scope, *_conditions(f, now, zone)]
    with session_scope(engine) as session:
        total = session.execute(select(func.count()).select_from(Ticket).where(*where)).scalar()
        pages = max(1, -(-total // page_size))
        page = min(f.page, pages)
        rows = session.execute(select(*_COLUMNS).where(*where).order_by(*_order())
                               .offset((page - 1) * page_size).limit(page_size)).all()
        counts = facet_counts(session, scope, f, now, zone, facet_max)
    return Queue(tuple(_row(r, now) for r in rows), total, page, pages, counts)


def _dimensions(now: datetime) -> dict:
    return {"status": Ticket.status, "category": Ticket.category, "community": Ticket.community,
            "building": Ticket.building, "handler": Ticket.handler_name, "tier": Ticket.tier,
            "source": Ticket.source, "overdue": case((_late(now), 1), else_=0)}


def facet_counts(session, scope: list, f: QueueFilter, now: datetime, zone: ZoneInfo, most: int = 40) -> dict:
    """facet -> [(value, tickets)]: each facet counted under every filter but its own, so choosing a
    status still shows how many the other statuses have."""
    active = set(f.active())
    groups: list[tuple[Optional[str], list[str]]] = [(None, [n for n in FACETS if n not in active])]
    groups += [(name, [name]) for name in FACETS if name in active]
    counts: dict = {}
    for without, facets in groups:
        if facets:
            counts.update(_grouped(session, [*scope, *_conditions(f, now, zone, without)], facets, now))
    for name, values in counts.items():
        values.sort(key=lambda pair: (-pair[1], str(pair[0])))
        del values[most:]
    return counts


def _grouped(session, where: list, facets: list[str], now: datetime) -> dict:
    dims = _dimensions(now)
    rows = select(*[dims[n].label(n) for n in dict.fromkeys(
        [*facets, *(["community"] if "building" in facets else [])])]).where(*where).subquery()

    def keys(name: str):
        return (rows.c.community, rows.c.building) if name == "building" else (rows.c[name],)

    found: dict = {name: [] for name in facets}
    if session.bind.dialect.name == "postgresql" and len(facets) > 1:
        columns = list(dict.fromkeys(c for name in facets for c in keys(name)))
        sets = func.grouping_sets(*[tuple_(*keys(name)) for name in facets])
        query = select(*columns, func.grouping(*columns).label("g"), func.count().label("n")).group_by(sets)
        width = len(columns)
        masks = {}
        for name in facets:
            grouped = {columns.index(c) for c in keys(name)}
            masks[sum(1 << (width - 1 - i) for i in range(width) if i not in grouped)] = name
        for row in session.execute(query):
            name = masks.get(row.g)
            if name is None:
                continue
            value = tuple(row[columns.index(c)] for c in keys(name))
            found[name].append((_value(name, value), row.n))
        return _clean(found)
    for name in facets:
        for row in session.execute(select(*keys(name), func.count()).group_by(*keys(name))):
            found[name].append((_value(name, tuple(row[:-1])), row[-1]))
    return _clean(found)


def _value(name: str, value: tuple):
    if name == "building":
        community, building = value
        return f"{community}:{building}" if community and building else None
    return value[0]


def _clean(found: dict) -> dict:
    return {name: [(v, n) for v, n in values if v is not None] for name, values in found.items()}


# -- CSV ---------------------------------------------------------------------------------------------

def export_rows(engine, subject, f: QueueFilter, now: datetime, zone: ZoneInfo, limit: int,
                batch: int = 2000) -> Iterator[QueueRow]:
    """Every ticket the filter matches, in the queue's order, masked as on the page; streamed."""
    where = [*scope_conditions(subject), *_conditions(f, now, zone)]
    query = select(*_COLUMNS).where(*where).order_by(*_order()).limit(limit)
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, max_row_buffer=batch).execute(query)
        for rows in result.partitions(batch):
            for values in rows:
                yield _row(values, now, description_chars=500)


def count(engine, subject, f: QueueFilter, now: datetime, zone: ZoneInfo) -> int:
    where = [*scope_conditions(subject), *_conditions(f, now, zone)]
    with session_scope(engine) as session:
        return session.execute(select(func.count()).select_from(Ticket).where(*where)).scalar()


# -- the ticket page -----------------------------------------------------------------------------

def attachments(engine, ticket_id: str) -> list:
    from bot.workbench.models import TicketAttachment

    with session_scope(engine) as session:
        return list(session.execute(select(TicketAttachment).where(TicketAttachment.ticket_id == ticket_id)
                                    .order_by(TicketAttachment.id)).scalars())


def open_tickets_like(engine, subject, ticket_id: str, community: Optional[str], limit: int = 20) -> list[tuple]:
    """(id, category, building, status) of other unmerged tickets of the same community the subject
    sees: the choices for "合并到…"."""
    where = [*scope_conditions(subject), Ticket.id != ticket_id, Ticket.merged_into.is_(None),
             Ticket.status != "closed"]
    if community:
        where.append(Ticket.community == community)
    with session_scope(engine) as session:
        return [tuple(r) for r in session.execute(
            select(Ticket.id, Ticket.category, Ticket.building, Ticket.status).where(*where)
            .order_by(Ticket.created_at.desc()).limit(limit))]
