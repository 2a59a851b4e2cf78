"""The deadline watch: a due-soon reminder to the handler's contacts, and at the deadline escalation and a
whistle to the street and the handler."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import Boolean, Column, ForeignKey, String, delete, update

from bot.core.db import Base, UtcDateTime, session_scope
from bot.messaging.send import notify_staff
from bot.scheduling.scheduler import Context
from bot.tickets.status import OPEN_VALUES
from bot.tickets.views import TicketView
from bot.workflows.dispatch_notices import reach


class DeadlineWatch(Base):
    """The deadline a ticket's watch jobs were planned for, and whether they have acted."""

    __tablename__ = "deadline_watches"

    ticket_id = Column(String(16), ForeignKey("tickets.id"), primary_key=True)
    deadline = Column(UtcDateTime, nullable=False)
    planned = Column(Boolean, nullable=False, default=False)  # its jobs are in the job store
    reminded_at = Column(UtcDateTime)
    escalated_at = Column(UtcDateTime)


def watch_deadline(context: Context, ticket: TicketView) -> None:
    """The watch row first, then its jobs, then the row says they exist: a ticket already past its
    deadline has its jobs run at once, and they claim their steps on that row; a crash before the
    last step leaves the watch unplanned, and the sweep plans it again."""
    with session_scope(context.engine) as session:
        watch = session.get(DeadlineWatch, ticket.id)
        if watch and watch.deadline == ticket.deadline and watch.planned:
            return
        if watch is None or watch.deadline != ticket.deadline:  # a new deadline: its steps are still to come
            session.merge(DeadlineWatch(ticket_id=ticket.id, deadline=ticket.deadline, planned=False,
                                        reminded_at=None, escalated_at=None))
    assert ticket.deadline is not None, "a dispatched ticket has a deadline"
    hours = context.tickets.directory.service.deadline_classes.get(ticket.deadline_class, 0)
    start = ticket.deadline - timedelta(hours=float(hours))
    quiet = ticket.deadline_class != "emergency"  # an emergency's handler is told at any hour
    args = {"ticket_id": ticket.id, "deadline": ticket.deadline.isoformat()}
    context.schedule.at(f"deadline:{ticket.id}:remind", deadline_reminder,
                        start + (ticket.deadline - start) * context.policy.remind_at, quiet=quiet, **args)
    context.schedule.at(f"deadline:{ticket.id}:overdue", deadline_overdue, ticket.deadline,
                        quiet=quiet, **args)
    with session_scope(context.engine) as session:
        session.execute(update(DeadlineWatch).where(DeadlineWatch.ticket_id == ticket.id,
                                                    DeadlineWatch.deadline == ticket.deadline).values(planned=True))


def end_watch(context: Context, ticket_id: str) -> None:
    """A ticket no longer open needs no deadline jobs; if it reopens, the sweep watches it anew."""
    with session_scope(context.engine) as session:
        watched = session.execute(delete(DeadlineWatch).where(DeadlineWatch.ticket_id == ticket_id)).rowcount
    if watched:
        for step in ("remind", "overdue"):
            context.schedule.remove(f"deadline:{ticket_id}:{step}")


# -- deadline watch and supervision jobs ------------------------------------------------------------

def deadline_reminder(context: Context, ticket_id: str, deadline: str) -> None:
    """Due soon: the handler's own contacts are reminded (as a dispatch notice reaches them); a
    handler nobody of whom is reached, its duty account or coordinating staff."""
    ticket = _watched(context, ticket_id, deadline)
    if ticket is None:
        return
    if _claim_watch(context, ticket_id, "reminded_at"):
        context.tickets.record(ticket_id, "linli", "deadline_reminder", f"临近办理时限，已提醒{ticket.handler_name}")
    key = f"deadline:{ticket_id}:{deadline}:remind"
    if _remind_contacts(context, key, ticket, "due_soon") is None:
        notify_staff(context, key, context.recipients.handler_staff(ticket), "due_soon", ticket_id)


def deadline_overdue(context: Context, ticket_id: str, deadline: str) -> None:
    """Overdue: one tier up and a whistle to the street listing the ticket, and to its handler."""
    ticket = _watched(context, ticket_id, deadline)
    if ticket is None:
        return
    if _claim_watch(context, ticket_id, "escalated_at"):
        context.tickets.escalate(ticket_id, "linli", "超过办理时限未办结")
    key = f"deadline:{ticket_id}:{deadline}:whistle"
    _remind_contacts(context, key, ticket, "whistle")
    notify_staff(context, key, tuple(dict.fromkeys(context.recipients.street + context.recipients.handler_staff(ticket))),
                 "whistle", ticket_id)


def _remind_contacts(context: Context, key: str, ticket: TicketView, notice: str):
    return reach(context, f"{key}:contact", ticket, "EXTERNAL_staff_notice", {"notice": notice, "ticket_id": ticket.id})


def _watched(context: Context, ticket_id: str, deadline: str) -> Optional[TicketView]:
    """The ticket, if it is still open with the deadline this job was planned for."""
    ticket = context.tickets.get(ticket_id)
    if ticket is None or ticket.status not in OPEN_VALUES or ticket.deadline != datetime.fromisoformat(deadline):
        return None
    return ticket


def _claim_watch(context: Context, ticket_id: str, column: str) -> bool:
    with session_scope(context.engine) as session:
        result = session.execute(update(DeadlineWatch).where(
            DeadlineWatch.ticket_id == ticket_id, getattr(DeadlineWatch, column).is_(None))
            .values({column: context.clock()}))
        return result.rowcount == 1
