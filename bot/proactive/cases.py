"""Proactive cases: proposing them from last season's repeats, listing, approving.

A proposal is one building × category that came back at least ``min_repeats`` times in the same
season last year (the report's heat-map counts, bot.reports.period.repeats). Proposing is idempotent
(one row per season, season start, building and category); approving is done once, and the one who
approves gets a ticket of source ``proactive`` created and dispatched by the ticket store, as any
complaint is, and the riders of the community a targeted nudge.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Optional

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.core.db import session_scope
from bot.core.errors import PlainUserError
from bot.core.settings import get_settings
from bot.proactive.models import ProactiveCase, ProactiveStatus
from bot.proactive.seasons import ProactivePolicy, Season, bounds, local_day, proactive_policy
from bot.reports.period import repeats
from bot.tickets.store import TicketStore
from bot.tickets.views import TicketView
from bot.workflows.nudge_jobs import area_alert


class CaseError(PlainUserError):
    """A proactive case that cannot be approved as asked."""


@dataclass(frozen=True)
class CaseView:
    id: int
    season: str
    season_start: str
    community: str
    building: str
    category: str
    repeats: int
    status: str
    ticket_id: Optional[str]
    note: Optional[str]

    @classmethod
    def of(cls, row: ProactiveCase) -> "CaseView":
        return cls(row.id, row.season, row.season_start, row.community, row.building, row.category, row.repeats,
                   row.status, row.ticket_id, row.note)

    @property
    def place(self) -> str:
        return f"{self.community}{self.building}号楼"


def policy() -> ProactivePolicy:
    return proactive_policy(get_settings().service_path)


def _targets(rules: ProactivePolicy, today: date, season: Optional[str]) -> list[tuple[Season, date]]:
    """The seasons to propose for: the one named (its next start, or the one running), else every
    season starting within the lead time."""
    if not season:
        return rules.coming(today)
    try:
        chosen = rules.season_of(season)
    except KeyError:
        raise CaseError(f"没有“{season[:20]}”这个季节，可以写：{'、'.join(rules.seasons)}。") from None
    for year in (today.year - 1, today.year, today.year + 1):
        first, after = chosen.window(year)
        if today < after:
            return [(chosen, first)]
    return []


def propose(store: TicketStore, as_of: datetime, season: str | None = None) -> list[CaseView]:
    """Proposals for the coming season(s) from the same season last year; returns every proposal
    still waiting for those seasons (those made earlier too)."""
    rules = policy()
    found = []
    for chosen, first in _targets(rules, local_day(as_of, store.zone), season):
        last_first, last_after = chosen.window(first.year - 1)
        start, end = bounds(last_first, last_after, store.zone)
        for (community, building, category), count in repeats(store.engine, start, end, chosen.watch, rules.min_repeats):
            try:
                with session_scope(store.engine) as session:
                    session.add(ProactiveCase(season=chosen.code, season_start=first.isoformat(), community=community,
                                              building=building, category=category, repeats=count,
                                              status=ProactiveStatus.PROPOSED, proposed_at=store.clock(),
                                              note=f"{building}号楼{chosen.watch[category]}"))
            except IntegrityError:
                pass  # proposed before
        found += list_cases(store, "proposed", season=chosen.code, season_start=first.isoformat())
    return found


def list_cases(store: TicketStore, status: str | None = "proposed", communities: tuple[str, ...] = (),
               season: str | None = None, season_start: str | None = None) -> list[CaseView]:
    query = select(ProactiveCase).order_by(ProactiveCase.season_start, ProactiveCase.repeats.desc(), ProactiveCase.id)
    for column, value in ((ProactiveCase.status, status), (ProactiveCase.season, season),
                          (ProactiveCase.season_start, season_start)):
        if value:
            query = query.where(column == value)
    if communities:
        query = query.where(ProactiveCase.community.in_(communities))
    with session_scope(store.engine) as session:
        return [CaseView.of(row) for row in session.execute(query).scalars()]


def get(store: TicketStore, case_id) -> Optional[CaseView]:
    number = str(case_id or "").strip().lstrip("#＃")
    if not number.isdigit() or len(number) > 9:
        return None
    with session_scope(store.engine) as session:
        row = session.get(ProactiveCase, int(number))
        return CaseView.of(row) if row else None


def approve(store: TicketStore, schedule, case_id, actor: str, reporter: tuple[str, str],
            communities: tuple[str, ...] = ()) -> tuple[CaseView, TicketView, int]:
    """Approves a proposal once: (the case, its ticket, riders nudged). ``reporter`` is who hears the
    ticket's progress and its follow-up: the staff member who approved, or their community office."""
    case = get(store, case_id)
    if case is None:
        raise CaseError(f"没有找到未诉先办建议 {str(case_id)[:12]}，请核对编号。")
    if communities and case.community not in communities:
        raise CaseError(f"未诉先办 #{case.id} 不在您负责的社区，请联系街道处理。")
    now = store.clock()
    with session_scope(store.engine) as session:
        claimed = session.execute(update(ProactiveCase).where(
            ProactiveCase.id == case.id, ProactiveCase.status == ProactiveStatus.PROPOSED).values(
            status=ProactiveStatus.APPROVED, approved_at=now, approved_by=actor)).rowcount == 1
    if not claimed:
        raise CaseError(f"未诉先办 #{case.id} 已经批准过了（工单 {case.ticket_id or '生成中'}）。")
    rules, service = policy(), store.directory.service
    season = rules.season_of(case.season)
    ticket = store.create(category=case.category, community=case.community, building=case.building,
                          description=(f"未诉先办（{season.label}前排查）：去年{season.label}{case.place}"
                                       f"“{service.categories[case.category].label}”反映了{case.repeats}次，"
                                       f"请提前检查{season.watch[case.category]}。"),
                          reporter_channel=reporter[0], reporter_id=reporter[1], source="proactive", actor=actor)
    with session_scope(store.engine) as session:
        session.execute(update(ProactiveCase).where(ProactiveCase.id == case.id).values(ticket_id=ticket.id))
    riders = area_alert(schedule, store.engine, now, case.community, nudge="proactive", note=case.note,
                        alert=f"case{case.id}")
    store.record(ticket.id, actor, "note", f"未诉先办 #{case.id}：已提醒{riders}位骑手留意{case.note}")
    approved = get(store, case.id)
    assert approved is not None, "cases are never deleted"
    return approved, ticket, riders


def approve_now(store: TicketStore, case_id, actor: str, reporter: tuple[str, str],
                communities: tuple[str, ...] = ()) -> tuple[CaseView, TicketView, int]:
    """:func:`approve` from a process that runs no jobs (chat, CLI): the riders' nudges go into the
    shared job store, where the running scheduler picks them up."""
    from bot.scheduling.scheduler import Scheduler

    scheduler = Scheduler(engine=store.engine).open()
    try:
        return approve(store, scheduler, case_id, actor, reporter, communities)
    finally:
        scheduler.stop(release=False)
