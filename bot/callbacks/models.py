"""The call-back request table."""
from __future__ import annotations

from sqlalchemy import Column, Integer, String, Text
from bot.core.db import Base, EnumString, StrEnum, UtcDateTime


class CallbackStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


class CallbackRequest(Base):
    """A resident asked for a person ("转人工"); staff call back by ``expected_by``."""

    __tablename__ = "callback_requests"

    id = Column(Integer, primary_key=True, autoincrement=True)
    channel = Column(String(32), nullable=False)
    sender_id = Column(String(128), nullable=False)
    phone = Column(String(16))
    note = Column(Text)
    created_at = Column(UtcDateTime, nullable=False)
    expected_by = Column(UtcDateTime, nullable=False)
    status = Column(EnumString(CallbackStatus), nullable=False, default=CallbackStatus.OPEN, index=True)
