"""The call-back request table and its history."""
from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Text

from bot.core.db import Base, EnumString, StrEnum, UtcDateTime


class CallbackStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


class CallbackRequest(Base):
    """A resident asked for a person ("转人工"); staff call back by ``expected_by``.

    ``open_key`` is "channel:sender" while the request is open and NULL once done: the unique index
    on it is what makes one open request per resident, however many times they ask."""

    __tablename__ = "callback_requests"

    id = Column(Integer, primary_key=True, autoincrement=True)
    channel = Column(String(32), nullable=False)
    sender_id = Column(String(128), nullable=False)
    phone = Column(String(16))
    note = Column(Text)
    created_at = Column(UtcDateTime, nullable=False)
    expected_by = Column(UtcDateTime, nullable=False)
    status = Column(EnumString(CallbackStatus), nullable=False, default=CallbackStatus.OPEN, index=True)
    open_key = Column(String(200), unique=True)
    community = Column(String(64), index=True)
    ticket_id = Column(String(16))           # the resident's open ticket when they asked, if any
    preferred_time = Column(String(64))      # "下午", "明天上午十点后", as the resident said it
    planned_at = Column(UtcDateTime)         # its notice and overdue jobs are in the job store
    notified_at = Column(UtcDateTime)
    escalated_at = Column(UtcDateTime)
    done_at = Column(UtcDateTime)
    done_by = Column(String(200))
    done_note = Column(Text)
    done_planned_at = Column(UtcDateTime)    # the resident's "done" message is in the job store


class CallbackEvent(Base):
    """One step of a call-back: requested, staff notified, escalated, done, resident told."""

    __tablename__ = "callback_events"

    id = Column(Integer, primary_key=True, autoincrement=True)
    callback_id = Column(Integer, ForeignKey("callback_requests.id"), nullable=False, index=True)
    at = Column(UtcDateTime, nullable=False)
    actor = Column(String(200), nullable=False)
    action = Column(String(32), nullable=False)
    note = Column(Text)
