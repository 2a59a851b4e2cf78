"""People Linli talks to, keyed by channel + sender id: their notice subscription for now; roles
and profiles (community, building, preferences) belong here too as they arrive."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Boolean, Column, DateTime, String

from bot.db import Base, get_engine, session_scope


class Person(Base):
    __tablename__ = "people"

    channel = Column(String(32), primary_key=True)
    sender_id = Column(String(128), primary_key=True)
    role = Column(String(16), nullable=False, default="resident")
    subscribed = Column(Boolean, nullable=False, default=False)
    updated_at = Column(DateTime(timezone=True), nullable=False)


def set_subscription(channel: str, sender_id: str, subscribed: bool, engine=None) -> bool:
    """Records the choice; returns whether it changed anything (to word the reply honestly)."""
    with session_scope(engine or get_engine()) as session:
        person = session.get(Person, (channel, sender_id))
        if person is None:
            person = Person(channel=channel, sender_id=sender_id, role="resident", subscribed=not subscribed)
            session.add(person)
        changed = person.subscribed != subscribed
        person.subscribed, person.updated_at = subscribed, datetime.now(timezone.utc)
        return changed


def is_subscribed(channel: str, sender_id: str, engine=None) -> bool:
    with session_scope(engine or get_engine()) as session:
        person = session.get(Person, (channel, sender_id))
        return bool(person and person.subscribed)
