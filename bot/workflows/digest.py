"""The daily digest for staff: new, overdue, escalated, awaiting follow-up, call-backs still to make,
dispatch notices that failed."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select

from bot.callbacks.models import CallbackRequest
from bot.core.db import session_scope
from bot.core.settings import console_url
from bot.messaging.send import notify_staff
from bot.scheduling.registry import recurring
from bot.scheduling.scheduler import Context
from bot.tickets.models import Ticket, TicketEvent
from bot.tickets.status import OPEN_VALUES
from bot.volunteers.models import Volunteer
from bot.workflows.followups import ACTIVE, FollowUp

# -- digest ----------------------------------------------------------------------------------------

@recurring("system:digest", lambda context: CronTrigger(hour=context.policy.digest_time.hour,
                                                        minute=context.policy.digest_time.minute,
                                                        timezone=context.policy.zone))
def send_digest(context: Context) -> None:
    now = context.clock()
    day = now.astimezone(context.policy.zone).date().isoformat()
    notify_staff(context, f"digest:{day}", context.recipients.digest, "digest", as_of=now.isoformat())


def weekly_links(now: datetime, zone) -> dict | None:
    """On a Monday, where staff read last week on the workbench: the figures page of that week and
    its report files (summary, masked CSV, charts, as `linli report week` writes them)."""
    today = now.astimezone(zone).date()
    if today.isoweekday() != 1:
        return None
    first, last = today - timedelta(days=7), today - timedelta(days=1)
    return {"week": f"{first.isoformat()} 至 {last.isoformat()}",
            "figures_url": f"{console_url()}/figures?period=week&as_of={last.isoformat()}",
            "files_url": f"{console_url()}/reports/week/{first.isoformat()}"}


@dataclass(frozen=True)
class Digest:
    new: int
    overdue: int
    escalated: int
    awaiting_followup: int
    overdue_ids: tuple[str, ...]
    pending_volunteers: int = 0
    open_callbacks: tuple = ()      # (id, community, expected_by) of call-backs not made yet, soonest first
    overdue_callbacks: int = 0
    failed_notices: int = 0         # dispatch notices that reached no contact (history's handler_notice_failed)
    failed_notice_ids: tuple[str, ...] = ()  # their tickets, newest failure first


def digest(engine, as_of: datetime, community: str | None = None) -> Digest:
    """The last 24 hours for staff: new, overdue now, escalated, awaiting follow-up; call-backs
    still open; dispatch notices that reached nobody (a handler never told is a ticket nobody
    works on); and rider sign-ups waiting for approval (street-wide: a rider patrols several
    communities)."""
    since = as_of - timedelta(days=1)
    where = [Ticket.community == community] if community else []
    with session_scope(engine) as session:
        def count(*conditions, of=Ticket):
            query = select(func.count()).select_from(of)
            if of is not Ticket:
                query = query.join(Ticket, Ticket.id == of.ticket_id)
            return session.execute(query.where(*where, *conditions)).scalar()

        overdue = [Ticket.status.in_(OPEN_VALUES), Ticket.deadline < as_of]
        overdue_ids = session.execute(select(Ticket.id).where(*where, *overdue).order_by(Ticket.deadline).limit(5))
        waiting = [CallbackRequest.status == "open", *([CallbackRequest.community == community] if community else [])]
        open_callbacks = session.execute(select(CallbackRequest.id, CallbackRequest.community,
                                                CallbackRequest.expected_by).where(*waiting)
                                         .order_by(CallbackRequest.expected_by).limit(5)).all()
        late_callbacks = session.execute(select(func.count()).select_from(CallbackRequest)
                                         .where(*waiting, CallbackRequest.expected_by < as_of)).scalar()
        failed = [TicketEvent.action == "handler_notice_failed", TicketEvent.at >= since, TicketEvent.at < as_of]
        failed_ids = session.execute(select(TicketEvent.ticket_id).join(Ticket, Ticket.id == TicketEvent.ticket_id)
                                     .where(*where, *failed).group_by(TicketEvent.ticket_id)
                                     .order_by(func.max(TicketEvent.at).desc()).limit(5)).scalars()
        return Digest(new=count(Ticket.created_at >= since, Ticket.created_at < as_of), overdue=count(*overdue),
                      escalated=count(TicketEvent.action == "escalated", TicketEvent.at >= since,
                                      TicketEvent.at < as_of, of=TicketEvent),
                      awaiting_followup=count(FollowUp.status.in_(ACTIVE), of=FollowUp),
                      overdue_ids=tuple(overdue_ids.scalars()),
                      pending_volunteers=session.execute(select(func.count()).select_from(Volunteer)
                                                         .where(Volunteer.status == "pending")).scalar(),
                      open_callbacks=tuple(tuple(row) for row in open_callbacks), overdue_callbacks=late_callbacks,
                      failed_notices=count(*failed, of=TicketEvent), failed_notice_ids=tuple(failed_ids))
