"""Broadcast tables: one row per notice, one per recipient."""
from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Text

from bot.core.db import Base, EnumString, StrEnum, UtcDateTime


class BroadcastStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class RecipientStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class BroadcastAudience(StrEnum):
    SUBSCRIBERS = "subscribers"
    VOLUNTEERS = "volunteers"  # riders: their patrol area is the community


OPEN = (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING)


# -- tables --------------------------------------------------------------------------------------

class Broadcast(Base):
    __tablename__ = "broadcasts"

    id = Column(Integer, primary_key=True, autoincrement=True)
    text = Column(Text, nullable=False)
    image = Column(String(512))  # a stored file's absolute path, or a platform file id
    image_channel = Column(String(32))  # the only channel a platform file id works on; None = every image channel
    audience = Column(EnumString(BroadcastAudience), nullable=False)
    community = Column(String(64))  # subscribers: their community; volunteers: their patrol area
    building = Column(String(16))
    topic = Column(String(16))
    author_channel = Column(String(32), nullable=False)  # "cli" for the command line
    author_id = Column(String(128), nullable=False)
    status = Column(EnumString(BroadcastStatus), nullable=False, index=True)
    send_at = Column(UtcDateTime)  # None: as soon as confirmed
    created_at = Column(UtcDateTime, nullable=False)
    confirmed_at = Column(UtcDateTime)
    started_at = Column(UtcDateTime)
    finished_at = Column(UtcDateTime)
    cancelled_at = Column(UtcDateTime)
    cancelled_by = Column(String(200))
    runner = Column(String(64))
    heartbeat_at = Column(UtcDateTime)


class BroadcastRecipient(Base):
    """One person's line in a broadcast's delivery report."""

    __tablename__ = "broadcast_recipients"

    broadcast_id = Column(Integer, ForeignKey("broadcasts.id"), primary_key=True)
    channel = Column(String(32), primary_key=True)
    sender_id = Column(String(128), primary_key=True)
    status = Column(EnumString(RecipientStatus), nullable=False)
    reason = Column(String(32))  # skipped or failed: a key of broadcasts.yml `reasons`
    detail = Column(Text)
    attempts = Column(Integer, nullable=False, default=0)
    claimed_at = Column(UtcDateTime)
    finished_at = Column(UtcDateTime)

    __table_args__ = (Index("ix_broadcast_recipients_status", "broadcast_id", "status"),)


SUBSCRIBERS, VOLUNTEERS = BroadcastAudience.SUBSCRIBERS, BroadcastAudience.VOLUNTEERS
