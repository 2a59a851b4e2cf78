"""Call-back requests (转人工): asking, listing, marking done, and their history.

Every function takes the :class:`TicketStore` for its engine, clock and directory, and writes the
step into the call-back's own history and, when the request came with an open ticket, into that
ticket's history too, so ``linli tickets show`` tells the whole story.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.callbacks.models import CallbackEvent, CallbackRequest
from bot.config.service import wording
from bot.core.db import session_scope
from bot.core.errors import PlainUserError
from bot.core.text import parse_phone
from bot.tickets.errors import TicketError
from bot.tickets.masking import masked_words
from bot.tickets.models import Ticket
from bot.tickets.status import OPEN_VALUES
from bot.tickets.store import TicketStore

NOTE_MAX_CHARS = 500
TIME_MAX_CHARS = 60
#: How each step reads in a ticket's history (the action names are in service.yml's event_labels).
TICKET_ACTIONS = {"requested": "callback_requested", "done": "callback_done", "escalated": "callback_escalated"}


class CallbackError(PlainUserError):
    """A call-back step that cannot be taken as asked (unknown id, already done)."""


@dataclass(frozen=True)
class CallbackStep:
    at: datetime
    actor: str
    action: str
    note: Optional[str]


@dataclass(frozen=True)
class CallbackView:
    id: int
    channel: str
    sender_id: str
    phone: Optional[str]
    note: Optional[str]
    created_at: datetime
    expected_by: datetime
    status: str
    community: Optional[str] = None
    ticket_id: Optional[str] = None
    preferred_time: Optional[str] = None
    done_at: Optional[datetime] = None
    done_by: Optional[str] = None
    done_note: Optional[str] = None
    history: tuple[CallbackStep, ...] = ()

    @classmethod
    def of(cls, row: CallbackRequest, history=()) -> "CallbackView":
        return cls(row.id, row.channel, row.sender_id, row.phone, row.note, row.created_at, row.expected_by,
                   row.status, row.community, row.ticket_id, row.preferred_time, row.done_at, row.done_by,
                   row.done_note, tuple(CallbackStep(e.at, e.actor, e.action, e.note) for e in history))

    def is_overdue(self, now: datetime) -> bool:
        return self.status == "open" and self.expected_by < now


def _key(channel: str, sender_id: str) -> str:
    return f"{channel}:{sender_id}"


def request(store: TicketStore, channel: str, sender_id: str, phone: str | None = None,
            preferred_time: str | None = None, note: str | None = None,
            community: str | None = None) -> tuple[CallbackView, bool]:
    """Records that a resident wants a person to call back, and by when staff will; returns the
    request and whether it is new. A resident has one open request: asking again (three messages,
    two processes at once) returns the one already open and writes nothing."""
    reporter = store._reporter(channel, sender_id)
    channel, sender_id = reporter["reporter_channel"], reporter["reporter_id"]
    if phone and not parse_phone(phone):
        raise TicketError(f"invalid phone {phone!r}", wording("refusals", "phone_format"))
    existing = open_for(store, channel, sender_id)
    if existing:
        return existing, False
    ticket = _open_ticket(store, channel, sender_id)
    found = store.directory.find_community(community) if community else None
    now = store.clock()
    row = CallbackRequest(channel=channel, sender_id=sender_id, phone=parse_phone(phone),
                          note=masked_words((note or "").strip()[:NOTE_MAX_CHARS]) or None, created_at=now,
                          expected_by=store.directory.service.callback.expected_by(now, store.zone), status="open",
                          open_key=_key(channel, sender_id),
                          community=(ticket.community if ticket else None) or (found.name if found else None),
                          ticket_id=ticket.id if ticket else None,
                          preferred_time=(preferred_time or "").strip()[:TIME_MAX_CHARS] or None)
    try:
        with session_scope(store.engine) as session:
            session.add(row)
            session.flush()
            callback_id = row.id
    except IntegrityError:  # another process recorded this resident's request a moment ago
        existing = open_for(store, channel, sender_id)
        if existing is None:  # and it was closed again in between
            raise CallbackError("刚才的回电请求已经处理完了，需要的话请再说一次“转人工”。") from None
        return existing, False
    when = f"，方便的时间：{row.preferred_time}" if row.preferred_time else ""
    _step(store, callback_id, f"{channel}:{sender_id}", "requested", f"居民申请回电{when}")
    return _written(store, callback_id), True


def _open_ticket(store: TicketStore, channel: str, sender_id: str):
    """The resident's latest ticket if it is still open: the call-back is most likely about it."""
    with session_scope(store.engine) as session:
        ticket_id = session.execute(select(Ticket.id).where(
            Ticket.reporter_channel == channel, Ticket.reporter_id == sender_id, Ticket.status.in_(OPEN_VALUES))
            .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(1)).scalar()
    return store.get(ticket_id) if ticket_id else None


def phone_on_file(store: TicketStore, channel: str, sender_id: str) -> Optional[str]:
    """The phone the resident last gave Linli (a call-back or a ticket), to offer instead of asking."""
    with session_scope(store.engine) as session:
        found = [session.execute(select(CallbackRequest.created_at, CallbackRequest.phone).where(
                     CallbackRequest.channel == channel, CallbackRequest.sender_id == sender_id,
                     CallbackRequest.phone.is_not(None)).order_by(CallbackRequest.created_at.desc()).limit(1)).first(),
                 session.execute(select(Ticket.created_at, Ticket.phone).where(
                     Ticket.reporter_channel == channel, Ticket.reporter_id == sender_id, Ticket.phone.is_not(None))
                     .order_by(Ticket.created_at.desc()).limit(1)).first()]
    latest = max(filter(None, found), default=None)
    return latest[1] if latest else None


def open_for(store: TicketStore, channel: str, sender_id: str) -> Optional[CallbackView]:
    with session_scope(store.engine) as session:
        row = session.execute(select(CallbackRequest).where(
            CallbackRequest.open_key == _key(channel, sender_id))).scalar()
        return CallbackView.of(row) if row else None


def _written(store: TicketStore, callback_id: int) -> CallbackView:
    """A request this module has just written: it is there."""
    view = get(store, callback_id)
    if view is None:
        raise LookupError(f"call-back #{callback_id} vanished after it was written")
    return view


def get(store: TicketStore, callback_id) -> Optional[CallbackView]:
    """The request with its history; None for an unknown or malformed id ("#12" and "12" both work)."""
    number = str(callback_id or "").strip().lstrip("#＃")
    if not number.isdigit() or len(number) > 9:
        return None
    with session_scope(store.engine) as session:
        row = session.get(CallbackRequest, int(number))
        if row is None:
            return None
        history = session.execute(select(CallbackEvent).where(CallbackEvent.callback_id == row.id)
                                  .order_by(CallbackEvent.id)).scalars().all()
        return CallbackView.of(row, history)


def list_callbacks(store: TicketStore, status: str | None = "open", communities: tuple[str, ...] = (),
                   limit: int = 50) -> list[CallbackView]:
    """Oldest promise first (who must be called soonest); ``communities`` empty means all."""
    query = select(CallbackRequest).order_by(CallbackRequest.expected_by, CallbackRequest.id).limit(limit)
    if status:
        query = query.where(CallbackRequest.status == status)
    if communities:
        query = query.where(CallbackRequest.community.in_(communities))
    with session_scope(store.engine) as session:
        return [CallbackView.of(row) for row in session.execute(query).scalars()]


def mark_done(store: TicketStore, callback_id, actor: str, note: str | None = None,
              communities: tuple[str, ...] = ()) -> CallbackView:
    """Staff called the resident back. Done once: a second tap or command changes nothing and says
    so. ``communities``: the staff member's (empty: the whole street)."""
    found = get(store, callback_id)
    if found is None:
        raise CallbackError(f"没有找到回电请求 {str(callback_id)[:12]}，请核对编号。")
    if communities and found.community not in communities:
        raise CallbackError(f"回电请求 #{found.id} 不在您负责的社区，请联系街道处理。")
    note = (note or "").strip()[:NOTE_MAX_CHARS] or None
    with session_scope(store.engine) as session:
        changed = session.execute(update(CallbackRequest).where(
            CallbackRequest.id == found.id, CallbackRequest.status == "open").values(
            status="done", open_key=None, done_at=store.clock(), done_by=actor, done_note=note)).rowcount
    if not changed:
        raise CallbackError(f"回电请求 #{found.id} 已经标记为已回电了。")
    _step(store, found.id, actor, "done", f"已回电：{note}" if note else "已回电")
    return _written(store, found.id)


def record(store: TicketStore, callback_id: int, actor: str, action: str, note: str) -> None:
    """A step that changes nothing else (staff notified, the resident told)."""
    _step(store, callback_id, actor, action, note)


def claim(store: TicketStore, callback_id: int, column: str, open_only: bool = True) -> bool:
    """Sets ``column`` (notified_at, escalated_at…) once; True for the one caller that did."""
    where = [CallbackRequest.id == callback_id, getattr(CallbackRequest, column).is_(None)]
    if open_only:
        where.append(CallbackRequest.status == "open")
    with session_scope(store.engine) as session:
        return session.execute(update(CallbackRequest).where(*where).values({column: store.clock()})).rowcount == 1


def _step(store: TicketStore, callback_id: int, actor: str, action: str, note: str) -> None:
    with session_scope(store.engine) as session:
        session.add(CallbackEvent(callback_id=callback_id, at=store.clock(), actor=actor, action=action, note=note))
        ticket_id = session.get(CallbackRequest, callback_id).ticket_id
    if ticket_id and action in TICKET_ACTIONS:
        store.record(ticket_id, actor, TICKET_ACTIONS[action], f"回电请求 #{callback_id}：{note}")


def mask_existing_notes(session) -> int:
    """Masks call-back notes written before notes were stored masked (as ``mask_existing`` does for
    tickets); returns how many changed."""
    changed = 0
    for request in session.execute(select(CallbackRequest).where(CallbackRequest.note.isnot(None))).scalars():
        note = masked_words(request.note)
        if note != request.note:
            request.note = note
            changed += 1
    return changed
