"""A person Linli talks to, keyed by channel + sender id: role, profile, subscription, topics."""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, String
from bot.core.db import Base, UtcDateTime


class Person(Base):
    __tablename__ = "people"

    channel = Column(String(32), primary_key=True)
    sender_id = Column(String(128), primary_key=True)
    role = Column(String(16), nullable=False, default="resident")  # resident | volunteer | staff
    community = Column(String(64), index=True)  # profile: asked once, offered again next time
    building = Column(String(16))
    subscribed = Column(Boolean, nullable=False, default=False)
    topics = Column(JSON, nullable=False, default=list)  # notice topics chosen; empty = all
    staff_communities = Column(JSON, nullable=False, default=list)  # staff: communities served; empty = street
    updated_at = Column(UtcDateTime, nullable=False)
