"""Monthly points of rider volunteers: reports and all-clears."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Optional
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select

from bot.core.db import session_scope
from bot.tickets.models import Ticket, TicketEvent
from bot.volunteers.models import PatrolAllClear
from bot.volunteers.records import VolunteerError, VolunteerView, list_volunteers


@dataclass(frozen=True)
class Points:
    rider: VolunteerView
    fixed_reports: int
    all_clears: int


def parse_month(text: Optional[str], zone: ZoneInfo, now: datetime) -> date:
    """The first day of "2026-11" / "2026年11月" / "11月" (this year); this month when empty."""
    text = (text or "").strip()
    today = now.astimezone(zone).date()
    if not text:
        return today.replace(day=1)
    match = re.fullmatch(r"(?:(\d{4})\s*[-年/.]\s*)?(\d{1,2})\s*月?", text)
    month = int(match.group(2)) if match else 0
    if match is None or not 1 <= month <= 12:
        raise VolunteerError(f"bad month {text!r}", "月份请写成“2026-11”或“11月”这样。")
    return date(int(match.group(1) or today.year), month, 1)


def month_bounds(first: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return datetime.combine(first, time(), zone), datetime.combine(following, time(), zone)


def points(engine, zone: ZoneInfo, first: date, rider: Optional[VolunteerView] = None) -> list[Points]:
    """Each rider's month (or one rider's), most active first."""
    start, end = month_bounds(first, zone)
    riders = [rider] if rider else list_volunteers(engine)
    with session_scope(engine) as session:
        fixed = {(row[0], row[1]): row[2] for row in session.execute(
            select(Ticket.reporter_channel, Ticket.reporter_id, func.count(func.distinct(Ticket.id)))
            .join(TicketEvent, and_(TicketEvent.ticket_id == Ticket.id, TicketEvent.action == "closed",
                                    TicketEvent.at >= start, TicketEvent.at < end))
            .group_by(Ticket.reporter_channel, Ticket.reporter_id))}
        clear = {(row[0], row[1]): row[2] for row in session.execute(
            select(PatrolAllClear.channel, PatrolAllClear.sender_id, func.count())
            .where(PatrolAllClear.day >= start.date().isoformat(), PatrolAllClear.day < end.date().isoformat())
            .group_by(PatrolAllClear.channel, PatrolAllClear.sender_id))}
    found = [Points(r, fixed.get((r.channel, r.sender_id), 0), clear.get((r.channel, r.sender_id), 0)) for r in riders]
    return sorted(found, key=lambda p: (-(p.fixed_reports + p.all_clears), p.rider.created_at))
