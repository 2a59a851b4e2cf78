"""The three rates (三率) communities are judged by, with the counts behind each (`linli report`).

- Response rate (响应率): tickets created in the period whose handler responded — started work,
  resolved it, or staff (actor ``staff:…``) wrote a note (``first_response_at``, set by the ticket
  store's ``is_response``) — before the response deadline
  (``response_hours`` per deadline class in service.yml), over those whose deadline has passed or
  that were answered. Tickets still inside their response window are counted as pending, not yet in
  the rate.
- Resolution rate (解决率): follow-ups answered in the period that said "solved", over answered.
- Satisfaction rate (满意率): follow-ups answered "satisfied" or "basically satisfied", over answered.
  A follow-up nobody answered counts in the follow-up figures ("no answer"), never as satisfied.

Proactive cases (未诉先办, source ``proactive``) are counted apart: nobody complained, so they are
in none of the three rates; ``proactive`` says how many were opened in the period and how many of
them are done.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Optional

from rich.console import Console
from rich.table import Table
from sqlalchemy import case, func, literal, select

from bot.core.db import UtcDateTime, room_to_hash, session_scope
from bot.tickets.models import Ticket
from bot.workflows.followups import FollowUp


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int
    counts: dict

    @property
    def value(self) -> Optional[float]:
        return self.numerator / self.denominator if self.denominator else None


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    community: Optional[str]
    response: Rate
    resolution: Rate
    satisfaction: Rate
    followups: dict
    proactive: dict  # {"cases": opened in the period, "done": of them resolved or closed}

    def as_dict(self) -> dict:
        def rate(r: Rate) -> dict:
            return {"rate": None if r.value is None else round(r.value, 4), **asdict(r)}

        return {"period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
                "community": self.community, "response_rate": rate(self.response),
                "resolution_rate": rate(self.resolution), "satisfaction_rate": rate(self.satisfaction),
                "followups": self.followups, "proactive": self.proactive}


def compute(engine, response_hours: dict, start: datetime, end: datetime, now: datetime,
            community: str | None = None) -> Report:
    """Figures for tickets created (response) and follow-ups closed (the other two) in [start, end)."""
    scope = [Ticket.community == community] if community else []
    where = [*scope, Ticket.source != "proactive"]
    with session_scope(engine) as session:
        room_to_hash(session)
        response = _response(session, where, response_hours, start, end, now)
        proactive = dict(session.execute(select(Ticket.status.in_(("resolved", "closed")), func.count()).where(
            *scope, Ticket.source == "proactive", Ticket.created_at >= start, Ticket.created_at < end)
            .group_by(Ticket.status.in_(("resolved", "closed")))).all())
        closed = select(FollowUp.status, FollowUp.solved, FollowUp.satisfaction, func.count()).join(
            Ticket, Ticket.id == FollowUp.ticket_id).where(
            *where, FollowUp.closed_at >= start, FollowUp.closed_at < end,
            FollowUp.status.in_(("answered", "no_answer"))).group_by(FollowUp.status, FollowUp.solved,
                                                                    FollowUp.satisfaction)
        rows = session.execute(closed).all()
        awaiting = session.execute(select(func.count()).select_from(FollowUp).join(
            Ticket, Ticket.id == FollowUp.ticket_id).where(*where, FollowUp.status.in_(("asked", "reminded")))).scalar()
    answered = [(solved, satisfaction, n) for status, solved, satisfaction, n in rows if status == "answered"]
    total = sum(n for *_, n in answered)

    def tally(index: int, keys) -> dict:
        return {key: sum(row[2] for row in answered if row[index] == key) for key in keys}

    solved = tally(0, ("solved", "partly", "unsolved"))
    satisfaction = tally(1, ("satisfied", "basically", "dissatisfied"))
    no_answer = sum(n for status, *_, n in rows if status == "no_answer")
    return Report(start, end, community, response,
                  Rate(solved["solved"], total, solved),
                  Rate(satisfaction["satisfied"] + satisfaction["basically"], total, satisfaction),
                  {"answered": total, "no_answer": no_answer, "awaiting_answer": awaiting},
                  {"cases": sum(proactive.values()), "done": proactive.get(True, 0)})


def _response(session, where, response_hours: dict, start: datetime, end: datetime, now: datetime) -> Rate:
    """Counted in the database (one row per outcome, not one per ticket: a busy street's month is
    100,000 tickets), from each ticket's ``first_response_at``, which the store writes with the
    step itself: no history event is read."""
    responded = Ticket.first_response_at
    hours = case(*((Ticket.deadline_class == name, float(h)) for name, h in response_hours.items()), else_=24.0)
    dialect = session.get_bind().dialect.name
    answered_within = _hours_between(dialect, Ticket.created_at, responded) <= hours + _SLACK_HOURS
    overdue = _hours_between(dialect, Ticket.created_at, literal(now, UtcDateTime())) > hours
    outcome = case((responded.is_(None) & overdue, "none"), (responded.is_(None), "pending"),
                   (answered_within, "in_time"), else_="late")
    rows = session.execute(select(outcome, func.count()).select_from(Ticket)
                           .where(*where, Ticket.created_at >= start, Ticket.created_at < end,
                                  Ticket.merged_into.is_(None)).group_by(outcome)).all()
    counts = {"in_time": 0, "late": 0, "none": 0, "pending": 0, **dict(rows)}
    return Rate(counts["in_time"], counts["in_time"] + counts["late"] + counts["none"], counts)


_SLACK_HOURS = 1e-6  # SQLite's julianday is a float: a response exactly at the deadline is in time


def _hours_between(dialect: str, earlier, later):
    """Hours from one moment to another, in SQL (SQLite has no interval type)."""
    if dialect == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 24.0
    return func.extract("epoch", later - earlier) / 3600.0


def _percent(rate: Rate) -> str:
    return "-" if rate.value is None else f"{rate.value:.1%}"


def print_report(report: Report, zone, console: Console | None = None) -> None:
    import sys

    console = console or (Console() if sys.stdout.isatty() else Console(width=200))
    local = [moment.astimezone(zone).strftime("%Y-%m-%d") for moment in (report.start, report.end - timedelta(seconds=1))]
    console.print(f"[bold]三率报表[/bold]  {local[0]} 至 {local[1]}  {report.community or '全街道'}")
    table = Table("指标", "比率", "分子/分母", "明细")
    r, s, f = report.response.counts, report.resolution.counts, report.satisfaction.counts
    table.add_row("响应率", _percent(report.response), f"{report.response.numerator}/{report.response.denominator}",
                  f"按时 {r['in_time']}，超时响应 {r['late']}，未响应 {r['none']}，未到响应时限 {r['pending']}")
    table.add_row("解决率", _percent(report.resolution), f"{report.resolution.numerator}/{report.resolution.denominator}",
                  f"已解决 {s['solved']}，部分解决 {s['partly']}，没解决 {s['unsolved']}")
    table.add_row("满意率", _percent(report.satisfaction),
                  f"{report.satisfaction.numerator}/{report.satisfaction.denominator}",
                  f"满意 {f['satisfied']}，基本满意 {f['basically']}，不满意 {f['dissatisfied']}")
    followups = report.followups
    table.add_row("回访", "-", f"{followups['answered']}/{followups['answered'] + followups['no_answer']}",
                  f"已答复 {followups['answered']}，未应答 {followups['no_answer']}，"
                  f"等待答复 {followups['awaiting_answer']}")
    cases = report.proactive or {"cases": 0, "done": 0}
    table.add_row("未诉先办", "-", f"{cases['done']}/{cases['cases']}",
                  f"主动发现 {cases['cases']} 件，已办结 {cases['done']} 件（不计入三率）")
    console.print(table)


def to_json(report: Report) -> str:
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2)
