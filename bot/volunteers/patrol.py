"""Patrols: who is on patrol where, and the all-clear a rider reports once per area and day."""
from __future__ import annotations

from datetime import datetime
from typing import Optional
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from bot.core.db import session_scope
from bot.people.roles import person_id
from bot.volunteers import nudges
from bot.volunteers.models import PatrolAllClear
from bot.volunteers.records import get

# -- patrols and points ----------------------------------------------------------------------------

def on_patrol(engine, channel: str, sender_id: str) -> bool:
    """Whose "all clear" counts: an approved rider, or anyone staff subscribed to duty nudges
    directly (`linli nudges subscribe`), whose nudge it answers."""
    rider = get(engine, channel, sender_id)
    if rider is not None:
        return rider.status == "active"
    subscription = nudges.get(engine, *person_id(channel, sender_id))
    return subscription is not None and subscription.active


def patrol_area(engine, directory, channel: str, sender_id: str, named: Optional[str] = None) -> str:
    """Where an all-clear is for: the community the rider named, else their nudges' area, else their
    one patrol community, else the whole street (its name)."""
    found = directory.find_community(named) if named else None
    if found:
        return found.name
    subscription = nudges.get(engine, *person_id(channel, sender_id))
    if subscription is not None and subscription.area:
        return subscription.area
    rider = get(engine, channel, sender_id)
    return rider.areas[0] if rider and len(rider.areas) == 1 else directory.street


def record_all_clear(engine, zone: ZoneInfo, channel: str, sender_id: str, area: str, now: datetime) -> bool:
    """One per rider, area and local day; False when today's was already recorded."""
    channel, sender_id = person_id(channel, sender_id)
    day = now.astimezone(zone).date().isoformat()
    try:
        with session_scope(engine) as session:
            if session.get(PatrolAllClear, (channel, sender_id, area, day)) is not None:
                return False
            session.add(PatrolAllClear(channel=channel, sender_id=sender_id, area=area, day=day, at=now))
    except IntegrityError:  # the same tap twice at the same moment
        return False
    return True
