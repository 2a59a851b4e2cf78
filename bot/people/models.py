"""A person Linli talks to, keyed by channel + sender id: role, profile, subscription, topics; and a
rider volunteer's sign-up record (their behaviour lives in ``bot.volunteers``)."""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, String, Text

from bot.core.db import Base, EnumString, StrEnum, UtcDateTime


class PersonRole(StrEnum):
    RESIDENT = "resident"
    VOLUNTEER = "volunteer"
    STAFF = "staff"


class Person(Base):
    __tablename__ = "people"

    channel = Column(String(32), primary_key=True)
    sender_id = Column(String(128), primary_key=True)
    role = Column(EnumString(PersonRole), nullable=False, default=PersonRole.RESIDENT)
    community = Column(String(64), index=True)  # profile: asked once, offered again next time
    building = Column(String(16))
    subscribed = Column(Boolean, nullable=False, default=False)
    topics = Column(JSON, nullable=False, default=list)  # notice topics chosen; empty = all
    staff_communities = Column(JSON, nullable=False, default=list)  # staff: communities served; empty = street
    updated_at = Column(UtcDateTime, nullable=False)


class VolunteerStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAUSED = "paused"


VOLUNTEER_STATUSES = tuple(s.value for s in VolunteerStatus)


class Volunteer(Base):
    """A rider volunteer (骑手志愿者): sign-up answers and whether staff let them patrol."""

    __tablename__ = "volunteers"

    channel = Column(String(32), primary_key=True)
    sender_id = Column(String(128), primary_key=True)
    name = Column(String(64), nullable=False)
    phone = Column(String(16), nullable=False)
    platform = Column(String(32))  # the delivery platform they ride for
    areas = Column(JSON, nullable=False, default=list)  # patrol communities (directory names)
    nudge_times = Column(JSON, nullable=False, default=list)  # chosen nudge times, "HH:MM"; subscribed on approval
    status = Column(EnumString(VolunteerStatus), nullable=False, default=VolunteerStatus.PENDING, index=True)
    told_status = Column(EnumString(VolunteerStatus))  # the status the rider was last told about (active, paused)
    consent = Column(Boolean, nullable=False, default=False)
    note = Column(Text)
    created_at = Column(UtcDateTime, nullable=False)
    updated_at = Column(UtcDateTime, nullable=False)
