"""Rider volunteers' tables: all-clear patrols here; the sign-up record (``Volunteer``) lives with the
other people tables in ``bot.people.models``, since the staff roster reads it too."""
from __future__ import annotations

from sqlalchemy import Column, String

from bot.core.db import Base, UtcDateTime
from bot.people.models import VOLUNTEER_STATUSES, Volunteer, VolunteerStatus

__all__ = ["VOLUNTEER_STATUSES", "PatrolAllClear", "Volunteer", "VolunteerStatus"]


class PatrolAllClear(Base):
    """One "all clear" per rider, area and local day: the key makes a second tap change nothing."""

    __tablename__ = "patrol_all_clears"

    channel = Column(String(32), primary_key=True)
    sender_id = Column(String(128), primary_key=True)
    area = Column(String(64), primary_key=True)  # a community, or the street's name for the whole street
    day = Column(String(10), primary_key=True)  # local date, YYYY-MM-DD
    at = Column(UtcDateTime, nullable=False)
