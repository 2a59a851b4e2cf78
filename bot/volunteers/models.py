"""Rider volunteers' tables: sign-ups and all-clear patrols."""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, String, Text
from bot.core.db import Base, UtcDateTime


VOLUNTEER_STATUSES = ("pending", "active", "paused")


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
    status = Column(String(16), nullable=False, default="pending", index=True)  # pending | active | paused
    told_status = Column(String(16))  # the status the rider was last told about (approved, paused)
    consent = Column(Boolean, nullable=False, default=False)
    note = Column(Text)
    created_at = Column(UtcDateTime, nullable=False)
    updated_at = Column(UtcDateTime, nullable=False)


class PatrolAllClear(Base):
    """One "all clear" per rider, area and local day: the key makes a second tap change nothing."""

    __tablename__ = "patrol_all_clears"

    channel = Column(String(32), primary_key=True)
    sender_id = Column(String(128), primary_key=True)
    area = Column(String(64), primary_key=True)  # a community, or the street's name for the whole street
    day = Column(String(10), primary_key=True)  # local date, YYYY-MM-DD
    at = Column(UtcDateTime, nullable=False)
