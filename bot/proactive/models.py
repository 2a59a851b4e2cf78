"""Proactive cases (未诉先办): one row per season, year, building and category."""
from __future__ import annotations

from sqlalchemy import Column, Integer, String, Text, UniqueConstraint

from bot.core.db import Base, EnumString, StrEnum, UtcDateTime


class ProactiveStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"


class ProactiveCase(Base):
    """A proposal from last season's repeats; approved, it has the ticket it became."""

    __tablename__ = "proactive_cases"
    __table_args__ = (UniqueConstraint("season", "season_start", "community", "building", "category",
                                       name="uq_proactive_case"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    season = Column(String(32), nullable=False)
    season_start = Column(String(10), nullable=False)   # ISO date the season starts (local)
    community = Column(String(64), nullable=False)
    building = Column(String(16), nullable=False)
    category = Column(String(32), nullable=False)
    repeats = Column(Integer, nullable=False)           # tickets in the same season last year
    status = Column(EnumString(ProactiveStatus), nullable=False, default=ProactiveStatus.PROPOSED, index=True)
    proposed_at = Column(UtcDateTime, nullable=False)
    approved_at = Column(UtcDateTime)
    approved_by = Column(String(200))
    ticket_id = Column(String(16))
    note = Column(Text)                                 # what riders are asked to look at
