"""What the handler's side records beside the ticket history: each dispatch notice and its sign-for,
and each return (退单), counted per handler."""
from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Text

from bot.core.db import Base, EnumString, StrEnum, UtcDateTime


class ExtensionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class HandlerDispatch(Base):
    """One dispatch of a ticket to a handler (the history step "dispatched", "assigned" or
    "returned" that sent it there) and what became of its notice; whether it was signed for is in
    the history (an "accepted" step after it)."""

    __tablename__ = "handler_dispatches"

    event_id = Column(Integer, ForeignKey("ticket_events.id"), primary_key=True)
    ticket_id = Column(String(16), ForeignKey("tickets.id"), nullable=False, index=True)
    handler_name = Column(String(64), nullable=False)
    planned_at = Column(UtcDateTime, nullable=False)
    notified_at = Column(UtcDateTime)          # a contact was reached
    notified = Column(String(200))             # "wecom:shouhua-desk"
    sign_overdue_at = Column(UtcDateTime)      # the community was told it was not signed in time


class HandlerReturn(Base):
    """A ticket a handler sent back as not theirs, with the reason."""

    __tablename__ = "handler_returns"

    id = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id = Column(String(16), ForeignKey("tickets.id"), nullable=False, index=True)
    handler_name = Column(String(64), nullable=False)
    returned_by = Column(String(200), nullable=False)
    reason = Column(Text, nullable=False)
    at = Column(UtcDateTime, nullable=False)

    __table_args__ = (Index("ix_handler_returns_handler", "handler_name", "at"),)


class ExtensionRequest(Base):
    """A handler asking for more time (申请延期), and the staff decision on it."""

    __tablename__ = "handler_extensions"

    id = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id = Column(String(16), ForeignKey("tickets.id"), nullable=False, index=True)
    handler_name = Column(String(64), nullable=False)
    requested_by = Column(String(200), nullable=False)
    hours = Column(Integer, nullable=False)
    reason = Column(Text, nullable=False)
    at = Column(UtcDateTime, nullable=False)
    status = Column(EnumString(ExtensionStatus), nullable=False, default=ExtensionStatus.PENDING, index=True)
    notified_at = Column(UtcDateTime)          # staff were sent the request
    decided_by = Column(String(200))
    decided_at = Column(UtcDateTime)
