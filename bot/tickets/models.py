"""The durable records: tickets with their history, call-back requests, followers of a ticket.

Every moment is a ``UtcDateTime``: stored as UTC, read back tz-aware, on SQLite as on PostgreSQL.
"""
from __future__ import annotations

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, and_, event
from sqlalchemy.orm import relationship

from bot.core.clock import utcnow
from bot.core.db import Base, EnumString, UtcDateTime
from bot.tickets.status import OPEN_VALUES, TicketStatus


class Ticket(Base):
    __tablename__ = "tickets"

    id = Column(String(16), primary_key=True)
    category = Column(String(32), nullable=False, index=True)
    community = Column(String(64), index=True)
    building = Column(String(16))
    unit = Column(String(8))
    room = Column(String(8))
    description = Column(Text, nullable=False)
    photos = Column(JSON, nullable=False, default=list)
    latitude = Column(Float)
    longitude = Column(Float)
    phone = Column(String(16))
    reporter_channel = Column(String(32), nullable=False)
    reporter_id = Column(String(128), nullable=False)
    source = Column(String(16), nullable=False, default="resident")
    handler_kind = Column(String(32))
    handler_name = Column(String(64))
    tier = Column(String(16))
    deadline_class = Column(String(16))
    deadline = Column(UtcDateTime)
    status = Column(EnumString(TicketStatus), nullable=False, index=True)
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)
    updated_at = Column(UtcDateTime, nullable=False, default=utcnow)
    merged_into = Column(String(16), ForeignKey("tickets.id"))
    # The report (form instance) this ticket was filed from: confirming it again, on any process,
    # finds this ticket instead of filing a second one. NULL for tickets filed otherwise.
    intake_key = Column(String(64))
    # When the handler first responded (``is_response`` in bot/tickets/store.py), written once with
    # that history step: the response rate reads it here instead of searching every ticket's history.
    first_response_at = Column(UtcDateTime)

    events = relationship("TicketEvent", order_by="TicketEvent.id", lazy="selectin")

    __table_args__ = (Index("ix_tickets_reporter", "reporter_channel", "reporter_id", "created_at"),
                      Index("ix_tickets_place", "community", "building", "category"),
                      # the deadline watch and "overdue" lists; reports by period
                      Index("ix_tickets_status_deadline", "status", "deadline"),
                      Index("ix_tickets_created_at", "created_at"),
                      UniqueConstraint("reporter_channel", "reporter_id", "intake_key", name="uq_tickets_intake"))


#: The workbench's queue reads open tickets by deadline (least time left first) a page at a time:
#: this index lets it walk them in order instead of sorting every match (bot/workbench/queries.py).
QUEUE_INDEX = Index("ix_tickets_deadline_id", Ticket.deadline, Ticket.id)


def overdue_at(moment):
    """The SQL condition "overdue at ``moment``": open, with a deadline already passed. One
    definition for the store's lists and the workbench's queue."""
    return and_(Ticket.deadline.isnot(None), Ticket.deadline < moment, Ticket.status.in_(OPEN_VALUES))


class TicketEvent(Base):
    """Append-only history: nothing ever updates or deletes a row here."""

    __tablename__ = "ticket_events"

    id = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id = Column(String(16), ForeignKey("tickets.id"), nullable=False, index=True)
    at = Column(UtcDateTime, nullable=False, index=True)  # progress notices look at recent steps
    actor = Column(String(128), nullable=False)
    action = Column(String(32), nullable=False)
    from_status = Column(EnumString(TicketStatus))
    to_status = Column(EnumString(TicketStatus))
    note = Column(Text)


@event.listens_for(TicketEvent, "before_update")
@event.listens_for(TicketEvent, "before_delete")
def _history_is_append_only(_mapper, _connection, target: TicketEvent) -> None:
    """The history is what residents are shown as proof of what happened: it is never rewritten."""
    raise ValueError(f"ticket history is append-only (event {target.id} of {target.ticket_id})")


class TicketSequence(Base):
    """The last daily sequence number handed out, one row per local day."""

    __tablename__ = "ticket_sequences"

    day = Column(String(8), primary_key=True)
    last = Column(Integer, nullable=False)


class TicketFollower(Base):
    """Residents who reported the same problem and get the ticket's updates."""

    __tablename__ = "ticket_followers"

    ticket_id = Column(String(16), ForeignKey("tickets.id"), primary_key=True)
    channel = Column(String(32), primary_key=True)
    sender_id = Column(String(128), primary_key=True)
    added_at = Column(UtcDateTime, nullable=False, default=utcnow)
