"""Progress notices: the resident who reported a ticket, and everyone following it, hear when it
moves (taken up, reassigned, escalated, resolved, reopened, merged) without having to ask.

The scheduler's sweep finds recent history steps of the kinds listed in service.yml
(``progress_notices``) that nobody announced yet, schedules one job per step and marks it; the job
sends ``EXTERNAL_ticket_update`` to each person through ``bot.delivery``, once per person and step.
Quiet hours hold the news until the morning. Steps come from every writer (the CLI, staff chat
commands, the scheduler itself), which is why this watches the history instead of each writer
calling it.
"""
from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, delete, select
from sqlalchemy.exc import IntegrityError

from bot.core.db import Base, UtcDateTime, session_scope
from bot.messaging.recipients import Recipient
from bot.messaging.send import send_each
from bot.privacy.masks import mask_text
from bot.scheduling.registry import on_rebuild, sweep_step
from bot.scheduling.scheduler import Context
from bot.tickets.models import TicketEvent

UPDATE_INTENT = "EXTERNAL_ticket_update"
NOTE_MAX_CHARS = 80


class ProgressNotice(Base):
    """A history step whose notice has been scheduled."""

    __tablename__ = "progress_notices"

    event_id = Column(Integer, ForeignKey("ticket_events.id"), primary_key=True)
    planned_at = Column(UtcDateTime, nullable=False)


@sweep_step("progress")
def sweep(context: Context, batch: int = 500) -> int:
    """Schedules the notices of steps nobody announced yet. The job goes in before the mark, so a
    crash in between means a second job for the same step, which sends nothing twice."""
    actions = context.policy.progress_actions
    if not actions:
        return 0
    now = context.clock()
    unannounced = (select(TicketEvent.id, TicketEvent.ticket_id)
                   .outerjoin(ProgressNotice, ProgressNotice.event_id == TicketEvent.id)
                   .where(TicketEvent.action.in_(actions), TicketEvent.at >= now - context.policy.progress_lookback,
                          ProgressNotice.event_id.is_(None))
                   .order_by(TicketEvent.id).limit(batch))
    by_ticket: dict[str, list[int]] = {}
    with session_scope(context.engine) as session:
        for event_id, ticket_id in session.execute(unannounced):
            by_ticket.setdefault(ticket_id, []).append(event_id)
    for event_ids in by_ticket.values():
        # One job per ticket, its steps in order: "接单" is never heard after "配件在调货".
        context.schedule.at(f"progress:{event_ids[0]}", notify_in_order, now, event_ids=event_ids)
        for event_id in event_ids:
            try:
                with session_scope(context.engine) as session:
                    session.add(ProgressNotice(event_id=event_id, planned_at=now))
            except IntegrityError:
                pass  # another sweep marked it a moment ago
    return sum(len(ids) for ids in by_ticket.values())


@on_rebuild("progress")
def rebuild(context: Context) -> int:
    """Notices scheduled within the look-back may have been lost with their jobs: their marks go,
    and the sweep schedules them again (a notice already sent is not sent twice)."""
    with session_scope(context.engine) as session:
        return session.execute(delete(ProgressNotice).where(
            ProgressNotice.planned_at >= context.clock() - context.policy.progress_lookback)).rowcount


def notify_in_order(context: Context, event_ids: list[int]) -> None:
    """The notices of one ticket's steps, oldest first (each sent once, as ``notify`` does)."""
    for event_id in event_ids:
        notify(context, event_id)


def notify(context: Context, event_id: int) -> None:
    with session_scope(context.engine) as session:
        event = session.get(TicketEvent, event_id)
        step = (event.ticket_id, event.action, event.note) if event else None
    ticket = context.tickets.get(step[0]) if step else None
    if ticket is None or step is None:
        return
    _, action, note = step
    people = [(ticket.reporter_channel, ticket.reporter_id), *context.tickets.followers(ticket.id)]
    for_residents = note and action in context.tickets.directory.service.resident_notes  # the rest: the step's label
    entities = {"ticket_id": ticket.id, "update": action,
                "update_note": mask_text(note)[:NOTE_MAX_CHARS] if for_residents else None}
    send_each(context, f"progress:{event_id}", [Recipient(*person) for person in dict.fromkeys(people)],
              UPDATE_INTENT, entities)
