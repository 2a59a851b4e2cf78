"""What a handler does from the dispatch notice: sign for it (签收), return it (退单), tap an interim
note, ask for more time (申请延期, which staff approve or refuse), and the checks every one of them
makes first.

Only a verified identity listed for the ticket's current handler (the handlers file) may act; each
step is one transaction on the locked ticket row with its history step, and pressing a button twice
changes nothing the second time.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import func, select, update
from sqlalchemy.orm import object_session

from bot.config.service import wording
from bot.core.db import session_scope
from bot.core.errors import PlainUserError
from bot.core.text import local_time
from bot.handlers.contacts import Contact, contacts_for, is_contact
from bot.handlers.models import ExtensionRequest, ExtensionStatus, HandlerReturn
from bot.handlers.policy import HandlerPolicy
from bot.nlu.address import chinese_number
from bot.tickets.errors import UnknownTicket
from bot.tickets.models import Ticket, TicketEvent
from bot.tickets.status import OPEN_STATUSES, S, TicketStatus
from bot.tickets.store import TicketStore
from bot.tickets.views import TicketView

#: History steps that hand a ticket to a handler, new or again (reopened by staff or by a failed
#: follow-up): each one needs a notice and a sign-for.
DISPATCHING = ("dispatched", "assigned", "returned", "reopened", "followup_failed")
REDO = ("reopened", "followup_failed")
class HandlerRefused(PlainUserError):
    """A handler's request that cannot be carried out; nothing was changed."""


def contact_of(ticket: TicketView, channel: str, sender_id: str) -> Contact:
    """The contact acting on the ticket: listed for its current handler, or refused."""
    found = next((c for c in contacts_for(ticket.handler_name or "") if c.key == (channel, sender_id)), None)
    if found is None:
        raise HandlerRefused(f"工单 {ticket.id} 现在由{ticket.handler_name}承办，您不在它的接单名单里，没法操作。")
    return found


def open_ticket(store: TicketStore, ticket_id: str, channel: str, sender_id: str) -> tuple[TicketView, Contact]:
    ticket = store.get(ticket_id or "")
    if ticket is None:
        raise UnknownTicket(ticket_id or "")
    contact = contact_of(ticket, channel, sender_id)
    if ticket.merged_into:
        raise HandlerRefused(f"工单 {ticket.id} 已并入工单 {ticket.merged_into}，请处理 {ticket.merged_into}。")
    if TicketStatus(ticket.status) not in OPEN_STATUSES:
        raise HandlerRefused(f"工单 {ticket.id} 已经办结了，不需要再操作。")
    return ticket, contact


def _since_dispatch(row: Ticket) -> list[TicketEvent]:
    """The row's history after the step that gave it to its current handler."""
    events = list(row.events)
    last = max((i for i, e in enumerate(events) if e.action in DISPATCHING), default=-1)
    return events[last + 1:]


def _same_handler(row: Ticket, ticket: TicketView) -> None:
    if row.handler_name != ticket.handler_name:
        raise HandlerRefused(f"工单 {row.id} 刚刚改派给了{row.handler_name}，不用您处理了。")


def is_redo(ticket: TicketView) -> bool:
    """Whether the ticket is back with its handler to be done again (重办)."""
    return next((e.action for e in reversed(ticket.history) if e.action in DISPATCHING), "") in REDO


def is_signed(row: Ticket) -> bool:
    return any(e.action == "accepted" for e in _since_dispatch(row))


class _AlreadySigned(Exception):
    """Signed a moment ago (by a colleague, or a second tap): the transaction is given up."""


def accept(store: TicketStore, ticket_id: str, channel: str, sender_id: str) -> tuple[TicketView, bool]:
    """签收: the ticket moves to in progress (the resident hears "已有人接单"); returns the ticket and
    whether this call signed it (False: it had been signed already)."""
    ticket, contact = open_ticket(store, ticket_id, channel, sender_id)

    def sign(row: Ticket, now: datetime) -> TicketEvent:
        _same_handler(row, ticket)
        if is_signed(row):
            raise _AlreadySigned()
        to_status = S.IN_PROGRESS.value if row.status in (S.DISPATCHED.value, S.REOPENED.value) else row.status
        event = TicketEvent(action="accepted", from_status=row.status, to_status=to_status,
                            note=f"{contact.handler}已签收" + (f"，签收人：{contact.name}" if contact.name else ""))
        row.status = to_status
        return event

    try:
        return store.apply(ticket.id, f"{channel}:{sender_id}", sign), True
    except _AlreadySigned:
        return store.get_known(ticket.id), False


def hand_back(store: TicketStore, policy: HandlerPolicy, ticket_id: str, channel: str, sender_id: str,
              reason: str) -> TicketView:
    """退单: the ticket goes back to its community office (or, when the community returns it, to the
    dispatch centre) to be dispatched again, with the reason; the return counts against the handler."""
    ticket, contact = open_ticket(store, ticket_id, channel, sender_id)
    reason = (reason or "").strip()[:policy.return_reason_max_chars]
    if not reason:
        raise HandlerRefused(wording("refusals", "return_needs_reason"))
    kind, name = return_target(store, policy, ticket)

    def give_back(row: Ticket, now: datetime) -> TicketEvent:
        _same_handler(row, ticket)
        object_session(row).add(HandlerReturn(ticket_id=row.id, handler_name=row.handler_name,
                                              returned_by=f"{channel}:{sender_id}", reason=reason, at=now))
        previous = row.handler_name
        row.handler_kind, row.handler_name = kind, name
        return TicketEvent(action="returned", note=f"{contact.label}退单：{reason}；转{name}重新派单（原承办{previous}）")

    return store.apply(ticket.id, f"{channel}:{sender_id}", give_back)


def return_target(store: TicketStore, policy: HandlerPolicy, ticket: TicketView) -> tuple[str, str]:
    """Where a returned ticket goes: its community office, unless the community is the one
    returning it (or there is none): then ``returns_to``."""
    community = store.directory.find_community(ticket.community) if ticket.community else None
    if community and not (ticket.handler_kind == "community" and ticket.handler_name == community.name) \
            and policy.returns_to != "community":
        return "community", community.name
    department = store.directory.departments[policy.returns_to.split(":", 1)[1]]
    return "department", department.name


def returns_by_handler(engine, since: Optional[datetime] = None) -> dict[str, int]:
    """How many tickets each handler returned (since a moment), most first."""
    query = select(HandlerReturn.handler_name, func.count()).group_by(HandlerReturn.handler_name)
    if since is not None:
        query = query.where(HandlerReturn.at >= since)
    with session_scope(engine) as session:
        return dict(sorted(session.execute(query).all(), key=lambda row: -row[1]))


def progress_note(store: TicketStore, policy: HandlerPolicy, ticket_id: str, channel: str, sender_id: str,
                  code: str) -> TicketView:
    """An interim note (已联系、需等配件) the handler taps: the resident hears the policy's own
    resident-facing words for it, never anything the handler typed."""
    note = policy.progress_notes.get(code or "")
    if note is None:
        raise HandlerRefused(wording("refusals", "unknown_progress_note"))
    ticket, _ = open_ticket(store, ticket_id, channel, sender_id)
    if any(e.action == "handler_progress" and e.note == note.resident for e in _history_since_dispatch(store, ticket.id)):
        return ticket
    return store.record(ticket.id, f"{channel}:{sender_id}", "handler_progress", note.resident)


def _history_since_dispatch(store: TicketStore, ticket_id: str) -> list[TicketEvent]:
    with session_scope(store.engine) as session:
        row = session.get(Ticket, ticket_id)
        return _since_dispatch(row)


def request_extension(store: TicketStore, policy: HandlerPolicy, ticket_id: str, channel: str, sender_id: str,
                      days: str, reason: str) -> ExtensionRequest:
    """申请延期: recorded in the history and waiting for staff; one open request per ticket."""
    ticket, contact = open_ticket(store, ticket_id, channel, sender_id)
    count = parse_days(days, policy.extension_max_days)
    reason = (reason or "").strip()[:policy.return_reason_max_chars]
    if not reason:
        raise HandlerRefused(wording("refusals", "extension_needs_reason"))
    actor = f"{channel}:{sender_id}"

    def ask(row: Ticket, now: datetime) -> TicketEvent:
        _same_handler(row, ticket)
        session = object_session(row)
        if session.execute(select(ExtensionRequest.id).where(ExtensionRequest.ticket_id == row.id,
                                                             ExtensionRequest.status == ExtensionStatus.PENDING)).first():
            raise HandlerRefused(wording("refusals", "extension_pending", ticket_id=row.id))
        session.add(ExtensionRequest(ticket_id=row.id, handler_name=row.handler_name, requested_by=actor,
                                                 hours=count * 24, reason=reason, at=now, status="pending"))
        return TicketEvent(action="extension_requested", note=f"{contact.label}申请延期{count}天：{reason}")

    store.apply(ticket.id, actor, ask)
    request = pending_extension(store.engine, ticket.id)
    if request is None:  # staff decided it in the moment between
        raise HandlerRefused("这条延期申请刚刚已经处理过了。")
    return request


def parse_days(text: str, longest: int) -> int:
    """"3", "3天", "三天" → 3; anything else, or beyond ``longest``, is refused with the reason."""
    raw = str(text or "").strip().removesuffix("天").strip()
    value = int(raw) if raw.isdigit() else chinese_number(raw)
    if not value or not 1 <= value <= longest:
        raise HandlerRefused(f"延期天数请写1到{longest}之间的数字，例如“3”。")
    return value


def pending_extension(engine, ticket_id: str) -> Optional[ExtensionRequest]:
    with session_scope(engine) as session:
        return session.execute(select(ExtensionRequest).where(
            ExtensionRequest.ticket_id == ticket_id, ExtensionRequest.status == ExtensionStatus.PENDING)).scalar()


def decide_extension(store: TicketStore, request_id: int, approve: bool, actor: str,
                     decider: tuple[str, str] | None = None) -> TicketView:
    """Staff approve (the deadline moves, and the deadline watch follows it) or refuse; the history
    says which and who. Deciding twice changes nothing the second time. ``decider`` (channel, sender
    id) may not be the one who asked nor a contact of the handler that asked: a community office
    that is its own buildings' handler does not approve its own extension."""
    with session_scope(store.engine) as session:
        request = session.get(ExtensionRequest, int(request_id))
    if request is None:
        raise HandlerRefused("没有找到这条延期申请。")
    if request.status != "pending":
        raise HandlerRefused(f"这条延期申请已经{'同意' if request.status == 'approved' else '不同意'}了。")
    if decider and own_extension(request, *decider):
        raise HandlerRefused("这是自己单位的延期申请，请由社区其他同事或街道审批。")

    def decided(row: Ticket, now: datetime) -> TicketEvent:
        claimed = object_session(row).execute(update_extension(request.id, approve, actor, now)).rowcount
        if claimed != 1:
            raise HandlerRefused("这条延期申请刚刚已经处理过了。")
        if not approve:
            return TicketEvent(action="extension_refused", note=f"不同意{request.handler_name}延期：{request.reason}")
        assert row.deadline is not None, "a dispatched ticket has a deadline"
        row.deadline = row.deadline + timedelta(hours=request.hours)
        return TicketEvent(action="extension_approved",
                           note=f"同意{request.handler_name}延期{request.hours // 24}天，{local_time(row.deadline, store.zone)}前办结")

    return store.apply(request.ticket_id, actor, decided)


def own_extension(request: ExtensionRequest, channel: str, sender_id: str) -> bool:
    """Whether this identity asked for the extension or receives the asking handler's tickets: it
    may not decide it (the chat, the workbench, and its greyed-out button ask the same)."""
    return request.requested_by == f"{channel}:{sender_id}" or is_contact(request.handler_name, channel, sender_id)


def update_extension(request_id: int, approve: bool, actor: str, now: datetime):
    return (update(ExtensionRequest).where(ExtensionRequest.id == request_id, ExtensionRequest.status == ExtensionStatus.PENDING)
            .values(status=ExtensionStatus.APPROVED if approve else ExtensionStatus.REFUSED, decided_by=actor, decided_at=now))
