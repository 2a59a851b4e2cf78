"""People Linli talks to, keyed by channel (the Rasa input channel name, which is also the output
channel that reaches them) + sender id: role, profile (community, building), notice subscription
and topics; rider volunteers' sign-up details in their own table."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, Column, String, Text

from bot.db import Base, UtcDateTime, get_engine, session_scope


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


class Volunteer(Base):
    """A rider volunteer (骑手志愿者): sign-up answers and whether staff let them patrol."""

    __tablename__ = "volunteers"

    channel = Column(String(32), primary_key=True)
    sender_id = Column(String(128), primary_key=True)
    name = Column(String(64), nullable=False)
    phone = Column(String(16), nullable=False)
    platform = Column(String(32))  # the delivery platform they ride for
    areas = Column(JSON, nullable=False, default=list)  # patrol communities (directory names)
    status = Column(String(16), nullable=False, default="pending", index=True)  # pending | active | paused
    consent = Column(Boolean, nullable=False, default=False)
    note = Column(Text)
    created_at = Column(UtcDateTime, nullable=False)
    updated_at = Column(UtcDateTime, nullable=False)


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


def role_of(channel: str, sender_id: str, engine=None) -> str:
    """``resident``, ``volunteer`` or ``staff``: asked afresh on every staff command, never cached,
    so a removed staff member loses access at once."""
    with session_scope(engine or get_engine()) as session:
        person = session.get(Person, (channel, sender_id))
        return person.role if person else "resident"
