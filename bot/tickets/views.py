"""Read-only views of tickets and their history, as every caller outside the store sees them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import object_session

from bot.core.clock import aware
from bot.privacy.masks import mask_phone, mask_room
from bot.tickets.models import Ticket, TicketFollower
from bot.tickets.status import OPEN_STATUSES


def place(ticket: TicketView) -> str:
    parts = [ticket.community or "", f"{ticket.building}号楼" if ticket.building else "",
             f"{ticket.unit}单元" if ticket.unit else ""]
    return "".join(parts) or "（未注明地点）"


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
    followers: int  # residents who reported the same problem and joined this ticket

    @property
    def masked_phone(self) -> Optional[str]:
        return mask_phone(self.phone)

    @property
    def masked_room(self) -> Optional[str]:
        return mask_room(self.room)

    def is_overdue(self, now: datetime) -> bool:
        return bool(self.deadline and self.status in OPEN_STATUSES and aware(self.deadline) < now)

    @classmethod
    def of(cls, row: Ticket) -> "TicketView":
        return cls(**{name: getattr(row, name) for name in (
            "id", "category", "community", "building", "unit", "room", "description", "latitude",
            "longitude", "phone", "reporter_channel", "reporter_id", "source", "handler_kind",
            "handler_name", "tier", "deadline_class", "status", "merged_into")},
            photos=tuple(row.photos or ()), deadline=aware(row.deadline), created_at=aware(row.created_at),
            updated_at=aware(row.updated_at),
            history=tuple(EventView(aware(e.at), e.actor, e.action, e.from_status, e.to_status, e.note)
                          for e in row.events),
            followers=follower_count(object_session(row), row.id))


def follower_count(session, ticket_id: str) -> int:
    return session.execute(select(func.count()).select_from(TicketFollower)
                           .where(TicketFollower.ticket_id == ticket_id)).scalar()
