"""Turning the state of tickets into jobs.

The database says what must happen and jobs make it happen on time. :func:`plan` turns one ticket's
state into its jobs and :func:`sweep` does that for every ticket whose jobs are missing — tickets
the action server created or changed, since it writes no jobs itself. Both are idempotent: job ids
are fixed, follow-ups are unique per ticket and round, and each job checks the ticket before acting.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Optional

from sqlalchemy import exists, or_, select, update

from bot.core.db import session_scope
from bot.scheduling.registry import SWEEP_STEPS, on_rebuild, recurring, sweep_step
from bot.scheduling.scheduler import Context
from bot.scheduling.triggers import CatchUpInterval
from bot.tickets.models import Ticket
from bot.tickets.status import OPEN_VALUES
from bot.tickets.views import TicketView
from bot.workflows.deadline_watch import DeadlineWatch, end_watch, watch_deadline
from bot.workflows.followups import ACTIVE, FollowUp, FollowUpView, plan_followup
from bot.workflows.supervision import supervise

# -- planning --------------------------------------------------------------------------------------

def plan(context: Context, ticket: TicketView) -> Optional[FollowUpView]:
    """Makes sure the ticket's jobs exist for its current state; returns a follow-up it awaits."""
    if ticket.status in OPEN_VALUES and ticket.deadline:
        watch_deadline(context, ticket)
        return None
    end_watch(context, ticket.id)
    if ticket.status == "resolved":
        return plan_followup(context, ticket)
    return None


@recurring("system:sweep", lambda context: CatchUpInterval(seconds=context.schedule.settings.sweep_seconds),
           on_start=True)
def sweep(context: Context, batch: int = 500) -> dict:
    """Plans what nobody planned: new and changed tickets, supervision after a failed follow-up, and
    whatever the other workflows registered as sweep steps (nudge subscriptions, progress notices,
    riders approved or paused). Cheap when there is nothing to do (indexed queries)."""
    counts = {"watched": 0, "followups": 0, "supervisions": 0}
    for ticket_id in _unwatched(context.engine, batch) + _unfollowed(context.engine, batch):
        ticket = context.tickets.get(ticket_id)
        if ticket:
            counts["followups" if ticket.status == "resolved" else "watched"] += 1
            plan(context, ticket)
    for ticket_id, round_ in _unsupervised(context.engine, batch):
        context.schedule.at(f"supervise:{ticket_id}:{round_}", supervise, context.clock(),
                            quiet=False, ticket_id=ticket_id, round=round_)
        counts["supervisions"] += 1
    for name, step in SWEEP_STEPS.items():
        counts[name] = step(context, batch)
    return counts


@on_rebuild("tickets")
def rebuild(context: Context) -> int:
    """Every open ticket's deadline jobs again: the watches say "planned" for jobs a lost store no
    longer has, so they are marked unplanned first and planned again here, all of them (the
    sweep's batches would take a while); supervision and resolved tickets follow in the sweep."""
    with session_scope(context.engine) as session:
        session.execute(update(DeadlineWatch).values(planned=False))
        open_ids = list(session.execute(select(Ticket.id).where(
            Ticket.status.in_(OPEN_VALUES), Ticket.deadline.is_not(None))).scalars())
    for ticket_id in open_ids:
        ticket = context.tickets.get(ticket_id)
        if ticket:
            plan(context, ticket)
    return len(open_ids)


@sweep_step("stalled-deadlines")
def replan_stalled(context: Context, batch: int = 500) -> int:
    """An open ticket past its deadline by more than a sweep, not yet escalated, whose overdue job
    is gone (its scheduler died while the job ran, or the store lost it), is watched again."""
    late = context.clock() - timedelta(seconds=context.schedule.settings.sweep_seconds)
    query = (select(Ticket.id).join(DeadlineWatch, DeadlineWatch.ticket_id == Ticket.id)
             .where(Ticket.status.in_(OPEN_VALUES), DeadlineWatch.planned.is_(True),
                    DeadlineWatch.deadline == Ticket.deadline, DeadlineWatch.deadline < late,
                    DeadlineWatch.escalated_at.is_(None)).limit(batch))
    with session_scope(context.engine) as session:
        overdue = list(session.execute(query).scalars())
    stalled = [ticket_id for ticket_id in overdue if not any(
        context.schedule.get(f"deadline:{ticket_id}:overdue{suffix}") for suffix in ("", ":retry", ":after-quiet"))]
    for ticket_id in stalled:
        with session_scope(context.engine) as session:
            session.execute(update(DeadlineWatch).where(DeadlineWatch.ticket_id == ticket_id).values(planned=False))
        ticket = context.tickets.get(ticket_id)
        if ticket:
            plan(context, ticket)
    return len(stalled)


def _unwatched(engine, limit: int) -> list[str]:
    query = (select(Ticket.id).outerjoin(DeadlineWatch, DeadlineWatch.ticket_id == Ticket.id)
             .where(Ticket.status.in_(OPEN_VALUES), Ticket.deadline.is_not(None),
                    or_(DeadlineWatch.ticket_id.is_(None), DeadlineWatch.deadline != Ticket.deadline,
                        DeadlineWatch.planned.is_(False)))
             .limit(limit))
    with session_scope(engine) as session:
        return list(session.execute(query).scalars())


def _unfollowed(engine, limit: int) -> list[str]:
    active = exists().where(FollowUp.ticket_id == Ticket.id, FollowUp.status.in_(ACTIVE))
    with session_scope(engine) as session:
        return list(session.execute(select(Ticket.id).where(Ticket.status == "resolved", ~active).limit(limit)).scalars())


def _unsupervised(engine, limit: int) -> list[tuple[str, int]]:
    query = select(FollowUp.ticket_id, FollowUp.round).where(
        FollowUp.status == "answered", FollowUp.outcome == "reopened", FollowUp.supervised_at.is_(None)).limit(limit)
    with session_scope(engine) as session:
        return [tuple(row) for row in session.execute(query)]



