"""Dispatch notices (派单) and the sign-for limit (签收).

Every history step that hands a ticket to a handler (created and dispatched, reassigned by staff,
returned by the previous handler, reopened to be done again) gets one notice job, found by a sweep that runs every
``notice_sweep_seconds`` (service.yml ``handlers``): the action server, the CLI and the workbench
write tickets, never jobs. The job tries the handler's contacts (the handlers file) in turn until one
is reached; every notice sent or failed is a step in the ticket's history, with whom and why. An
emergency goes out at once at any hour, to the night contact as well; other notices wait for the end
of quiet hours. A handler's extension request (申请延期) goes to the community's staff the same way,
with 同意 / 不同意. Once a contact is reached, a second job waits out the sign-for limit of the
ticket's deadline class: not signed by then, the community's staff are told and the history says so.
"""
from __future__ import annotations

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError

from bot.core.db import session_scope
from bot.core.errors import RetryLater
from bot.core.text import duration
from bot.handlers.contacts import Contact, contacts_for, to_reach
from bot.handlers.models import ExtensionRequest, ExtensionStatus, HandlerDispatch
from bot.handlers.policy import handler_policy
from bot.handlers.work import DISPATCHING
from bot.messaging.delivery import DeliveryFailed, NotConfigured
from bot.messaging.recipients import Recipient
from bot.messaging.send import notify_staff, send_each
from bot.scheduling.registry import recurring
from bot.scheduling.scheduler import Context
from bot.scheduling.triggers import CatchUpInterval
from bot.tickets.models import TicketEvent
from bot.tickets.status import OPEN_VALUES
from bot.tickets.views import TicketView

NOTICE_INTENT = "EXTERNAL_handler_notice"


@recurring("handlers:notices", lambda context: CatchUpInterval(seconds=handler_policy().notice_sweep_seconds))
def sweep(context: Context, batch: int = 200) -> int:
    """Plans a notice for each dispatching step nobody planned yet (recent ones only: a scheduler
    down for a day does not send yesterday's dispatches as news). The mark goes in first and the job
    after, under the mark's unique key, so two sweeps plan a step once."""
    now = context.clock()
    unplanned = (select(TicketEvent.id, TicketEvent.ticket_id)
                 .outerjoin(HandlerDispatch, HandlerDispatch.event_id == TicketEvent.id)
                 .where(TicketEvent.action.in_(DISPATCHING), TicketEvent.at >= now - context.policy.progress_lookback,
                        HandlerDispatch.event_id.is_(None))
                 .order_by(TicketEvent.id).limit(batch))
    with session_scope(context.engine) as session:
        steps = list(session.execute(unplanned))
    planned = 0
    for event_id, ticket_id in steps:
        ticket = context.tickets.get(ticket_id)
        try:
            with session_scope(context.engine) as session:
                session.add(HandlerDispatch(event_id=event_id, ticket_id=ticket_id,
                                            handler_name=ticket.handler_name or "", planned_at=now))
        except IntegrityError:
            continue  # another sweep planned it a moment ago
        context.schedule.at(f"dispatch:{event_id}", notify, now, quiet=not _emergency(ticket), event_id=event_id)
        planned += 1
    return planned + _plan_extension_notices(context, batch)


def _plan_extension_notices(context: Context, batch: int) -> int:
    with session_scope(context.engine) as session:
        waiting = list(session.execute(select(ExtensionRequest.id).where(
            ExtensionRequest.status == ExtensionStatus.PENDING, ExtensionRequest.notified_at.is_(None)).limit(batch)).scalars())
    for request_id in waiting:
        with session_scope(context.engine) as session:
            claimed = session.execute(update(ExtensionRequest).where(
                ExtensionRequest.id == request_id, ExtensionRequest.notified_at.is_(None))
                .values(notified_at=context.clock())).rowcount
        if claimed:
            context.schedule.at(f"extension:{request_id}", notify_extension, context.clock(), request_id=request_id)
    return len(waiting)


def notify_extension(context: Context, request_id: int) -> None:
    """The request to the staff of the ticket's community (or the street), while it waits."""
    with session_scope(context.engine) as session:
        request = session.get(ExtensionRequest, request_id)
    ticket = context.tickets.get(request.ticket_id) if request and request.status == "pending" else None
    if ticket is None:
        return
    send_each(context, f"extension:{request_id}", context.recipients.community_staff(ticket.community),
              "EXTERNAL_extension_request", {"extension_id": str(request_id), "ticket_id": ticket.id})


def _emergency(ticket: TicketView) -> bool:
    return ticket.deadline_class == "emergency"


def _current(context: Context, event_id: int) -> TicketView | None:
    """The ticket, if it is open and this step is still the one that gave it to its handler."""
    with session_scope(context.engine) as session:
        ticket_id = session.execute(select(HandlerDispatch.ticket_id).where(HandlerDispatch.event_id == event_id)).scalar()
        later = ticket_id and session.execute(select(exists().where(
            TicketEvent.ticket_id == ticket_id, TicketEvent.id > event_id, TicketEvent.action.in_(DISPATCHING)))).scalar()
    ticket = context.tickets.get(ticket_id) if ticket_id and not later else None
    return ticket if ticket and ticket.status in OPEN_VALUES and not ticket.merged_into else None


def notify(context: Context, event_id: int) -> None:
    """The notice to the first contact reached (on duty first), and for an emergency to every night
    contact too. Nobody reached: the job is tried again later (the scheduler's retries)."""
    ticket = _current(context, event_id)
    if ticket is None:
        return
    if not contacts_for(ticket.handler_name or ""):
        _nobody_listed(context, event_id, ticket)
        return
    first = reach(context, f"dispatch:{ticket.id}:{event_id}", ticket, NOTICE_INTENT, {"ticket_id": ticket.id},
                  record=True)
    if first is None:
        raise RetryLater(f"dispatch notice {ticket.id}: no contact of {ticket.handler_name} reached")
    _watch_sign_for(context, event_id, ticket, first)


def reach(context: Context, key: str, ticket: TicketView, intent: str, entities: dict,
          record: bool = False) -> Contact | None:
    """``intent`` to the handler's own contacts, the way a dispatch notice goes: tried in turn (on
    duty first) until one is reached, and for an emergency to every night contact as well. The first
    contact reached, or None. With ``record``, every attempt is a step in the ticket's history."""
    in_turn, also = to_reach(contacts_for(ticket.handler_name or ""), context.clock(), context.policy.zone,
                             _emergency(ticket))
    reached = next((c for c in in_turn if _send(context, key, ticket, c, intent, entities, record)), None)
    told = [c for c in also if _send(context, key, ticket, c, intent, entities, record)]
    return reached or (told[0] if told else None)


def _send(context: Context, key: str, ticket: TicketView, contact: Contact, intent: str, entities: dict,
          record: bool) -> bool:
    """One contact; True when reached (or already reached by an earlier run)."""
    try:
        delivered = context.delivery.send(f"{key}:{contact.channel}:{contact.id}",
                                          Recipient(contact.channel, contact.id), intent, entities)
    except DeliveryFailed as error:
        if record:
            context.tickets.record(ticket.id, "linli", "handler_notice_failed", f"通知{contact.label}失败：{_why(error)}")
        return False
    if delivered is not None and record:
        context.tickets.record(ticket.id, "linli", "handler_notified", f"已通知{contact.label}")
    return True


def _why(error: DeliveryFailed) -> str:
    labels = handler_policy().channel_labels
    if isinstance(error, NotConfigured):
        return f"未配置{labels.get(error.channel, error.channel)}"
    return "平台发送出错"


def _nobody_listed(context: Context, event_id: int, ticket: TicketView) -> None:
    """A handler with no contacts is no dispatch: its community's staff are told to call it."""
    if _claim(context, event_id, "notified_at"):
        context.tickets.record(ticket.id, "linli", "handler_notice_failed",
                               f"通知{ticket.handler_name}失败：接单名单里没有它的联系人，已告知社区")
    notify_staff(context, f"dispatch:{ticket.id}:{event_id}:unlisted", context.recipients.community_staff(ticket.community),
                 "no_contact", ticket.id)


def _watch_sign_for(context: Context, event_id: int, ticket: TicketView, contact: Contact) -> None:
    if not _claim(context, event_id, "notified_at", notified=f"{contact.channel}:{contact.id}"):
        return
    limit = handler_policy().sign_for_limit(ticket.deadline_class)
    context.schedule.at(f"dispatch:{event_id}:sign-for", sign_for_overdue, context.clock() + limit,
                        quiet=not _emergency(ticket), event_id=event_id)


def _claim(context: Context, event_id: int, column: str, **values) -> bool:
    with session_scope(context.engine) as session:
        return session.execute(update(HandlerDispatch).where(
            HandlerDispatch.event_id == event_id, getattr(HandlerDispatch, column).is_(None))
            .values({column: context.clock(), **values})).rowcount == 1


def sign_for_overdue(context: Context, event_id: int) -> None:
    """Not signed for in time: the community's staff (or the street's) hear it, once."""
    ticket = _current(context, event_id)
    if ticket is None or _signed_since(context, ticket.id, event_id):
        return
    limit = handler_policy().sign_for_limit(ticket.deadline_class)
    if _claim(context, event_id, "sign_overdue_at"):
        context.tickets.record(ticket.id, "linli", "sign_for_overdue",
                               f"{ticket.handler_name}超过{duration(limit)}未签收，已告知{ticket.community or '街道'}")
    notify_staff(context, f"dispatch:{ticket.id}:{event_id}:sign-overdue",
                 context.recipients.community_staff(ticket.community), "sign_overdue", ticket.id)


def _signed_since(context: Context, ticket_id: str, event_id: int) -> bool:
    with session_scope(context.engine) as session:
        return bool(session.execute(select(exists().where(
            TicketEvent.ticket_id == ticket_id, TicketEvent.id > event_id, TicketEvent.action == "accepted"))).scalar())
