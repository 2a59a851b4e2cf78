"""Tickets: their ids, their legal status changes and their history — the one place for all three.

Every write happens in one transaction and appends to the ticket's history, so what a resident
sees ("全流程透明") is exactly what happened, with actor and time.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from enum import Enum
from typing import Callable, Iterable, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from bot.db import get_engine, session_scope
from bot.directory import Directory, get_directory
from bot.models import CallbackRequest, Ticket, TicketEvent, TicketFollower
from bot.nlu.address import extract, normalize_phone
from bot.settings import get_settings


class TicketStatus(str, Enum):
    NEW = "new"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


S = TicketStatus
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.NEW: frozenset({S.DISPATCHED}),
    S.DISPATCHED: frozenset({S.IN_PROGRESS, S.RESOLVED}),
    S.IN_PROGRESS: frozenset({S.RESOLVED}),
    S.RESOLVED: frozenset({S.CLOSED, S.REOPENED}),
    S.REOPENED: frozenset({S.DISPATCHED, S.IN_PROGRESS, S.RESOLVED}),
    S.CLOSED: frozenset({S.REOPENED}),
}
OPEN_STATUSES = frozenset({S.NEW, S.DISPATCHED, S.IN_PROGRESS, S.REOPENED})

_TICKET_ID = re.compile(r"^GD(\d{8})(\d{4})$")


class TicketError(Exception):
    """A request about tickets that cannot be carried out; ``user_message`` says why, in Chinese."""

    user_message = "这个操作没法完成。"

    def __init__(self, detail: str = "", user_message: str | None = None) -> None:
        super().__init__(detail or user_message or self.user_message)
        if user_message:
            self.user_message = user_message


class UnknownTicket(TicketError):
    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"unknown ticket {ticket_id}", f"没有找到工单 {ticket_id}，请核对一下工单号。")


class NotAllowed(TicketError):
    user_message = "这个工单不是您提交的，为保护隐私没法查看。如有疑问可以说“转人工”。"


class IllegalTransition(TicketError):
    def __init__(self, ticket_id: str, current: str, wanted: str) -> None:
        labels = get_directory().service.status_labels
        super().__init__(f"{ticket_id}: {current} -> {wanted} is not allowed",
                         f"工单 {ticket_id} 现在是“{labels.get(current, current)}”，"
                         f"不能改成“{labels.get(wanted, wanted)}”。")


def format_ticket_id(day: str, sequence: int) -> str:
    return f"GD{day}{sequence:04d}"


def parse_ticket_id(value: str) -> Optional[str]:
    """The canonical id, or None when the text is not a well-formed ticket id."""
    candidate = re.sub(r"\s+", "", value or "").upper()
    return candidate if _TICKET_ID.match(candidate) else None


def mask_phone(phone: Optional[str]) -> Optional[str]:
    return f"{phone[:3]}****{phone[-4:]}" if phone and len(phone) >= 7 else phone


def mask_room(room: Optional[str]) -> Optional[str]:
    """Keeps the floor digit only: enough for the resident to recognise, useless to a stranger."""
    return room[0] + "*" * (len(room) - 1) if room else room


def mask_text(text: str) -> str:
    """A resident's own words, safe to echo: phone and room numbers in it are masked."""
    masks = {"phone": lambda raw: mask_phone(re.sub(r"\D", "", raw)), "room": mask_room}
    for span in sorted(extract(text), key=lambda s: -s.start):
        if span.entity in masks:
            text = text[:span.start] + masks[span.entity](text[span.start:span.end]) + text[span.end:]
    return text


@dataclass(frozen=True)
class EventView:
    at: datetime
    actor: str
    action: str
    from_status: Optional[str]
    to_status: Optional[str]
    note: Optional[str]


@dataclass(frozen=True)
class TicketView:
    id: str
    category: str
    community: Optional[str]
    building: Optional[str]
    unit: Optional[str]
    room: Optional[str]
    description: str
    photos: tuple[str, ...]
    latitude: Optional[float]
    longitude: Optional[float]
    phone: Optional[str]
    reporter_channel: str
    reporter_id: str
    source: str
    handler_kind: Optional[str]
    handler_name: Optional[str]
    tier: Optional[str]
    deadline_class: Optional[str]
    deadline: Optional[datetime]
    status: str
    created_at: datetime
    updated_at: datetime
    merged_into: Optional[str]
    history: tuple[EventView, ...]

    @property
    def masked_phone(self) -> Optional[str]:
        return mask_phone(self.phone)

    @property
    def masked_room(self) -> Optional[str]:
        return mask_room(self.room)

    def is_overdue(self, now: datetime) -> bool:
        return bool(self.deadline and self.status in OPEN_STATUSES and _aware(self.deadline) < now)

    @classmethod
    def of(cls, row: Ticket) -> "TicketView":
        return cls(**{name: getattr(row, name) for name in (
            "id", "category", "community", "building", "unit", "room", "description", "latitude",
            "longitude", "phone", "reporter_channel", "reporter_id", "source", "handler_kind",
            "handler_name", "tier", "deadline_class", "status", "merged_into")},
            photos=tuple(row.photos or ()), deadline=_aware(row.deadline), created_at=_aware(row.created_at),
            updated_at=_aware(row.updated_at),
            history=tuple(EventView(_aware(e.at), e.actor, e.action, e.from_status, e.to_status, e.note)
                          for e in row.events))


@dataclass(frozen=True)
class CallbackView:
    id: int
    channel: str
    sender_id: str
    phone: Optional[str]
    expected_by: datetime


def _aware(moment: Optional[datetime]) -> Optional[datetime]:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment and moment.tzinfo is None else moment


def _clean(value: Optional[str]) -> Optional[str]:
    value = (value or "").strip()
    return value or None


class TicketStore:
    def __init__(self, engine: Engine | None = None, directory: Directory | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine or get_engine()
        self.directory = directory or get_directory()
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.zone = ZoneInfo(get_settings().timezone)

    # -- creating -------------------------------------------------------------------------------

    def create(self, *, category: str, description: str, reporter_channel: str, reporter_id: str,
               community: str | None = None, building: str | None = None, unit: str | None = None,
               room: str | None = None, phone: str | None = None, photos: Iterable[str] = (),
               latitude: float | None = None, longitude: float | None = None, source: str = "resident",
               actor: str | None = None) -> TicketView:
        fields = self._validated(category, description, community, building, unit, room, phone, source)
        now = self.clock()
        dispatch = self.directory.dispatch(category, fields["community"], fields["building"],
                                           fields["description"], now)
        actor = actor or f"{reporter_channel}:{reporter_id}"
        with session_scope(self.engine) as session:
            ticket_id = self._next_id(session, now)
            session.add(Ticket(id=ticket_id, **fields, photos=list(photos), latitude=latitude,
                               longitude=longitude, reporter_channel=reporter_channel,
                               reporter_id=reporter_id, handler_kind=dispatch.handler_kind,
                               handler_name=dispatch.handler_name, tier=dispatch.tier,
                               deadline_class=dispatch.deadline_class, deadline=dispatch.deadline,
                               status=S.DISPATCHED.value, created_at=now, updated_at=now))
            session.flush()
            session.add_all([
                TicketEvent(ticket_id=ticket_id, at=now, actor=actor, action="created",
                            to_status=S.NEW.value, note=None),
                TicketEvent(ticket_id=ticket_id, at=now, actor="linli", action="dispatched",
                            from_status=S.NEW.value, to_status=S.DISPATCHED.value,
                            note=f"派给{dispatch.handler_name}（{self.directory.service.tiers[dispatch.tier]}）"),
            ])
        return self.get(ticket_id)

    def _validated(self, category, description, community, building, unit, room, phone, source) -> dict:
        service = self.directory.service
        if category not in service.categories:
            raise TicketError(f"unknown category {category}", "没有这个问题类别。")
        description = (description or "").strip()
        if not description:
            raise TicketError("empty description", "请简单说说是什么问题。")
        if len(description) > service.description_max_chars:
            raise TicketError("description too long",
                              f"描述太长了，请控制在{service.description_max_chars}字以内。")
        found = self.directory.find_community(community) if community else None
        if community and not found:
            raise TicketError(f"unknown community {community}", f"我们街道没有“{community}”这个社区。")
        building = _clean(building)
        if building and not (found and self.directory.building(found.name, building)):
            raise TicketError(f"unknown building {community} {building}",
                              f"{found.name if found else '这个社区'}没有{building}号楼，请核对楼号。")
        normalized_phone = normalize_phone(phone) if phone else None
        if phone and (normalized_phone is None or normalized_phone != re.sub(r"[\s-]", "", phone)):
            raise TicketError("invalid phone", "手机号格式不对，请发11位手机号。")
        for name, value in (("unit", unit), ("room", room)):
            if value is not None and not str(value).isdigit():
                raise TicketError(f"invalid {name}", "单元号和门牌号只能是数字。")
        if source not in ("resident", "volunteer"):
            raise TicketError(f"unknown source {source}")
        return {"category": category, "description": description,
                "community": found.name if found else None, "building": building,
                "unit": _clean(unit), "room": _clean(room), "phone": normalized_phone, "source": source}

    def _next_id(self, session, now: datetime) -> str:
        """Atomic on SQLite (3.35+) and PostgreSQL alike: the upsert locks the day's row."""
        day = now.astimezone(self.zone).strftime("%Y%m%d")
        last = session.execute(text(
            "INSERT INTO ticket_sequences (day, last) VALUES (:day, 1) "
            "ON CONFLICT (day) DO UPDATE SET last = ticket_sequences.last + 1 RETURNING last"),
            {"day": day}).scalar_one()
        if last > 9999:
            raise TicketError("daily sequence exhausted", "今天的工单太多了，请稍后再试或拨打12345。")
        return format_ticket_id(day, last)

    # -- reading --------------------------------------------------------------------------------

    def get(self, ticket_id: str) -> Optional[TicketView]:
        with session_scope(self.engine) as session:
            row = session.get(Ticket, ticket_id)
            return TicketView.of(row) if row else None

    def get_for_reporter(self, ticket_id: str, channel: str, sender_id: str) -> TicketView:
        """A resident sees only their own tickets (and those they follow)."""
        ticket = self.get(ticket_id)
        if ticket is None:
            raise UnknownTicket(ticket_id)
        if (ticket.reporter_channel, ticket.reporter_id) != (channel, sender_id) and \
                not self.is_follower(ticket_id, channel, sender_id):
            raise NotAllowed(f"{channel}:{sender_id} may not read {ticket_id}")
        return ticket

    def is_follower(self, ticket_id: str, channel: str, sender_id: str) -> bool:
        with session_scope(self.engine) as session:
            return session.get(TicketFollower, (ticket_id, channel, sender_id)) is not None

    def latest_for_reporter(self, channel: str, sender_id: str) -> Optional[TicketView]:
        with session_scope(self.engine) as session:
            row = session.execute(select(Ticket).where(Ticket.reporter_channel == channel,
                                                       Ticket.reporter_id == sender_id)
                                  .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(1)).scalar()
            return TicketView.of(row) if row else None

    def list(self, status: str | None = None, community: str | None = None, overdue: bool | None = None,
             limit: int = 50) -> list[TicketView]:
        query = select(Ticket).order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)
        if status:
            query = query.where(Ticket.status == TicketStatus(status).value)
        if community:
            found = self.directory.find_community(community)
            query = query.where(Ticket.community == (found.name if found else community))
        if overdue:
            query = query.where(Ticket.deadline < self.clock(),
                                Ticket.status.in_([s.value for s in OPEN_STATUSES]))
        with session_scope(self.engine) as session:
            return [TicketView.of(row) for row in session.execute(query).scalars()]

    def open_for_building(self, category: str, community: str, building: str, since_days: int) -> list[TicketView]:
        """Open tickets of the same kind at the same building: candidates for a duplicate report."""
        since = self.clock() - timedelta(days=since_days)
        query = select(Ticket).where(Ticket.category == category, Ticket.community == community,
                                     Ticket.building == building, Ticket.created_at >= since,
                                     Ticket.status.in_([s.value for s in OPEN_STATUSES]),
                                     Ticket.merged_into.is_(None)).order_by(Ticket.created_at)
        with session_scope(self.engine) as session:
            return [TicketView.of(row) for row in session.execute(query).scalars()]

    # -- changing -------------------------------------------------------------------------------

    def _locked(self, session, ticket_id: str) -> Ticket:
        row = session.execute(select(Ticket).where(Ticket.id == ticket_id).with_for_update()).scalar()
        if row is None:
            raise UnknownTicket(ticket_id)
        return row

    def transition(self, ticket_id: str, to_status: str, actor: str, note: str | None = None,
                   action: str | None = None) -> TicketView:
        """Moves a ticket along a legal transition and records it; anything else changes nothing.

        ``action`` names the step in the history when it says more than the new status (a follow-up
        nobody answered closes the ticket as ``no_answer``). A reopened ticket gets a fresh deadline
        of its class: the handler must be given time to do the work again, and the watch restarts.
        """
        try:
            wanted = TicketStatus(to_status)
        except ValueError:
            raise TicketError(f"unknown status {to_status}", f"没有“{to_status}”这个状态。") from None
        with session_scope(self.engine) as session:
            row = self._locked(session, ticket_id)
            current = TicketStatus(row.status)
            if wanted not in TRANSITIONS[current]:
                raise IllegalTransition(ticket_id, current.value, wanted.value)
            now = self.clock()
            row.status, row.updated_at = wanted.value, now
            if wanted is S.REOPENED and row.deadline_class:
                row.deadline = now + timedelta(hours=float(self.directory.service.deadline_classes[row.deadline_class]))
                note = "；".join(filter(None, (note, f"重新计时，{self._local(row.deadline)}前办结")))
            session.add(TicketEvent(ticket_id=ticket_id, at=now, actor=actor, action=action or wanted.value,
                                    from_status=current.value, to_status=wanted.value, note=note))
        return self.get(ticket_id)

    def add_note(self, ticket_id: str, actor: str, note: str) -> TicketView:
        note = (note or "").strip()
        if not note:
            raise TicketError("empty note", "备注不能为空。")
        return self.record(ticket_id, actor, "note", note[:2000])

    def record(self, ticket_id: str, actor: str, action: str, note: str) -> TicketView:
        """A step that changes no status (a reminder sent, a supervisor notified) in the history."""
        with session_scope(self.engine) as session:
            row = self._locked(session, ticket_id)
            now = self.clock()
            row.updated_at = now
            session.add(TicketEvent(ticket_id=ticket_id, at=now, actor=actor, action=action,
                                    from_status=row.status, to_status=row.status, note=note))
        return self.get(ticket_id)

    def escalate(self, ticket_id: str, actor: str, reason: str) -> TicketView:
        """One tier up (小事群里办 → 大事社区办 → 难点街道办); at the street already, the whistle
        is still recorded, since the street is then called in again."""
        with session_scope(self.engine) as session:
            row = self._locked(session, ticket_id)
            now = self.clock()
            tiers = list(self.directory.service.tiers)
            position = tiers.index(row.tier) if row.tier in tiers else len(tiers) - 1
            row.tier, row.updated_at = tiers[min(position + 1, len(tiers) - 1)], now
            session.add(TicketEvent(ticket_id=ticket_id, at=now, actor=actor, action="escalated",
                                    from_status=row.status, to_status=row.status,
                                    note=f"{reason}，升级至{self.directory.service.tiers[row.tier]}（吹哨）"))
        return self.get(ticket_id)

    def _local(self, moment: datetime) -> str:
        local = moment.astimezone(self.zone)
        return f"{local.month}月{local.day}日{local:%H:%M}"

    def assign(self, ticket_id: str, handler_kind: str, handler_name: str, actor: str) -> TicketView:
        if handler_kind not in ("property_company", "community", "owner_unit", "department") or not handler_name:
            raise TicketError(f"bad handler {handler_kind}:{handler_name}", "承办单位不对。")
        with session_scope(self.engine) as session:
            row = self._locked(session, ticket_id)
            now = self.clock()
            previous = row.handler_name
            row.handler_kind, row.handler_name, row.updated_at = handler_kind, handler_name, now
            session.add(TicketEvent(ticket_id=ticket_id, at=now, actor=actor, action="assigned",
                                    from_status=row.status, to_status=row.status,
                                    note=f"{previous} → {handler_name}"))
        return self.get(ticket_id)

    # -- call-backs -----------------------------------------------------------------------------

    def request_callback(self, channel: str, sender_id: str, phone: str | None = None,
                         note: str | None = None) -> CallbackView:
        now = self.clock()
        expected_by = self.callback_due(now)
        with session_scope(self.engine) as session:
            row = CallbackRequest(channel=channel, sender_id=sender_id, phone=normalize_phone(phone or ""),
                                  note=(note or "")[:500], created_at=now, expected_by=expected_by)
            session.add(row)
            session.flush()
            return CallbackView(row.id, channel, sender_id, row.phone, expected_by)

    def callback_due(self, now: datetime) -> datetime:
        """Within N hours in working hours (capped at closing time), else the next morning."""
        config = self.directory.service.callback
        local = now.astimezone(self.zone)
        opens, closes = (time.fromisoformat(t) for t in config["working_hours"])
        morning = time.fromisoformat(config["next_day_by"])
        if opens <= local.time() < closes:
            due = min(local + timedelta(hours=config["within_hours"]), datetime.combine(local.date(), closes, self.zone))
        else:
            day = local.date() if local.time() < opens else local.date() + timedelta(days=1)
            due = datetime.combine(day, morning, self.zone)
        return due.astimezone(timezone.utc)
