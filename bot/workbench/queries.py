"""Reads for the workbench's lists: the ticket queue with its filters, counts and CSV, in SQL over
the existing models. Kept in this one module so the ticket store can take them over.

No ticket object is loaded for a list (``Ticket`` rows would bring their whole history along): the
queue selects the columns it shows, one page at a time, and counts every filter's values with one
aggregate query per active filter (PostgreSQL: GROUPING SETS over a single scan).
"""
from __future__ import annotations

import re
import threading
import time as systime
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Callable, Iterator, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, not_, select

from bot.core.db import room_to_hash, session_scope
from bot.privacy.masks import mask_phone, mask_room, mask_text
from bot.tickets.models import Ticket, overdue_at
from bot.tickets.status import OPEN_VALUES

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
        found.append(overdue_at(now) if f.overdue else not_(overdue_at(now)))
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


def _order(open_part: bool):
    """Open tickets by the time left, least first; the others by their deadline, latest first.
    Both walk ``ix_tickets_deadline_id`` (bot/tickets/models.py) instead of sorting every matching row."""
    if open_part:
        return (Ticket.deadline.asc().nulls_last(), Ticket.id.asc())
    return (Ticket.deadline.desc().nulls_first(), Ticket.id.desc())


def _row(values, now: datetime, description_chars: int = 60) -> QueueRow:
    (ticket_id, category, community, building, unit, room, phone, description, source, handler, tier, status,
     deadline, created_at) = values
    is_open = status in OPEN_VALUES
    left = (deadline - now).total_seconds() if deadline and is_open else None
    text = description if len(description) <= description_chars else description[:description_chars] + "…"
    return QueueRow(ticket_id, category, community, building, unit, mask_room(room), mask_phone(phone),
                    mask_text(text), source, handler, tier, status, deadline, created_at,
                    bool(left is not None and left < 0), left)


def queue(engine, subject, f: QueueFilter, now: datetime, zone: ZoneInfo, page_size: int,
          facet_max: int = 40, reuse_seconds: float = 0) -> Queue:
    """One page of the queue, with the count of every filter value under the other filters.

    One aggregate query counts the matching tickets per combination of the filterable columns (a
    few thousand rows for a street); every facet's counts, the total and the number of open tickets
    come from it. The page is then read in order from the open tickets, then the others."""
    scope = [*scope_conditions(subject), *_dates(f, zone)]
    key = (str(engine.url), subject.role, subject.scope, f.date_from, f.date_to)
    with session_scope(engine) as session:
        cube = _cube(session, scope, now, key, reuse_seconds)
        counts, total, open_total = _tally(cube, f)
        pages = max(1, -(-total // page_size))
        page = min(f.page, pages)
        start, rows = (page - 1) * page_size, []
        where = [*scope, *_conditions(f, now, zone)]
        if start < open_total:
            rows += session.execute(select(*_COLUMNS).where(*where, Ticket.status.in_(OPEN_VALUES)).order_by(*_order(True))
                                    .offset(start).limit(page_size)).all()
        if len(rows) < page_size and total > open_total:
            rows += session.execute(select(*_COLUMNS).where(*where, Ticket.status.notin_(OPEN_VALUES))
                                    .order_by(*_order(False)).offset(max(0, start - open_total))
                                    .limit(page_size - len(rows))).all()
    for values in counts.values():
        values.sort(key=lambda pair: (-pair[1], str(pair[0])))
        del values[facet_max:]
    return Queue(tuple(_row(r, now) for r in rows), total, page, pages, counts)


def _dates(f: QueueFilter, zone: ZoneInfo) -> list:
    found = []
    if f.date_from:
        found.append(Ticket.created_at >= datetime.combine(f.date_from, time(), zone))
    if f.date_to:
        found.append(Ticket.created_at < datetime.combine(f.date_to + timedelta(days=1), time(), zone))
    return found


_CUBE = ("status", "category", "community", "building", "handler", "tier", "source", "overdue")


#: Combination counts of one scope and date range, reused for ``counts_reused_seconds``
#: (workbench.yml): every filter of the queue shares them, the console's own changes drop them at
#: once (:func:`forget_counts`), changes made elsewhere (chat, the CLI) show in the counts within
#: that time; the rows of a page are always read fresh.
_cubes: dict = {}
_cubes_lock = threading.Lock()


def forget_counts() -> None:
    with _cubes_lock:
        _cubes.clear()


def _cube(session, where: list, now: datetime, key: Optional[tuple] = None, reuse_seconds: float = 0) -> list[tuple]:
    """(status, category, community, building, handler, tier, source, overdue 0/1, tickets) per
    combination present. Grouped on a subquery: PostgreSQL does not see two renderings of one
    expression with parameters (the overdue test) as the same."""
    if key is not None and reuse_seconds > 0:
        with _cubes_lock:
            hit = _cubes.get(key)
            if hit and hit[0] > systime.monotonic():
                return hit[1]
    late = case((overdue_at(now), 1), else_=0)
    rows = select(Ticket.status.label("status"), Ticket.category.label("category"),
                  Ticket.community.label("community"), Ticket.building.label("building"),
                  Ticket.handler_name.label("handler"), Ticket.tier.label("tier"), Ticket.source.label("source"),
                  late.label("overdue")).where(*where).subquery()
    columns = [rows.c[name] for name in _CUBE]
    # The planner takes the columns for independent and expects a group per ticket, so with the
    # default work_mem it sorts 100,000 rows on disk (0.6 s) instead of hashing a few thousand groups.
    room_to_hash(session)
    found = [tuple(row) for row in session.execute(select(*columns, func.count()).group_by(*columns))]
    if key is not None and reuse_seconds > 0:
        with _cubes_lock:
            if len(_cubes) > 256:
                _cubes.clear()
            _cubes[key] = (systime.monotonic() + reuse_seconds, found)
    return found


def _tally(cube: list[tuple], f: QueueFilter) -> tuple[dict, int, int]:
    """Each facet's counts under every filter but its own (choosing a status still shows how many
    the other statuses have), the total under all of them, and how many of those are open."""
    index = {name: i for i, name in enumerate(_CUBE)}
    wanted: dict[str, Callable[..., bool]] = {}
    for name in FACETS:
        value = getattr(f, name)
        if value is None:
            continue
        if name == "overdue":
            wanted[name] = lambda row, v=int(value): row[index["overdue"]] == v
        elif name == "building":
            community, _, building = value.partition(":")
            wanted[name] = lambda row, c=community, b=building: (row[index["community"]], row[index["building"]]) == (c, b)
        else:
            wanted[name] = lambda row, n=name, v=value: row[index[n]] == v
    counts: dict = {name: {} for name in FACETS}
    total = open_total = 0
    for row in cube:
        n = row[-1]
        failed = [name for name, test in wanted.items() if not test(row)]
        if len(failed) > 1:
            continue
        for name in FACETS:
            if failed and failed[0] != name:
                continue
            key = _key(name, row, index)
            if key is not None:
                counts[name][key] = counts[name].get(key, 0) + n
        if not failed:
            total += n
            open_total += n if row[index["status"]] in OPEN_VALUES else 0
    return {name: list(values.items()) for name, values in counts.items()}, total, open_total


def _key(name: str, row: tuple, index: dict):
    if name == "building":
        community, building = row[index["community"]], row[index["building"]]
        return f"{community}:{building}" if community and building else None
    return row[index[name]]


# -- CSV ---------------------------------------------------------------------------------------------

def export_rows(engine, subject, f: QueueFilter, now: datetime, zone: ZoneInfo, limit: int,
                batch: int = 2000) -> Iterator[QueueRow]:
    """Every ticket the filter matches, in the queue's order, masked as on the page; streamed."""
    where = [*scope_conditions(subject), *_conditions(f, now, zone)]
    left = limit
    for open_part in (True, False):
        status = Ticket.status.in_(OPEN_VALUES) if open_part else Ticket.status.notin_(OPEN_VALUES)
        query = select(*_COLUMNS).where(*where, *_dates(f, zone), status).order_by(*_order(open_part)).limit(left)
        with engine.connect() as connection:
            result = connection.execution_options(stream_results=True, max_row_buffer=batch).execute(query)
            for rows in result.partitions(batch):
                for values in rows:
                    left -= 1
                    yield _row(values, now, description_chars=500)
        if left <= 0:
            return


def count(engine, subject, f: QueueFilter, now: datetime, zone: ZoneInfo) -> int:
    where = [*scope_conditions(subject), *_conditions(f, now, zone), *_dates(f, zone)]
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
