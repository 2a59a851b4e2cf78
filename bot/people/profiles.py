"""A resident's usual place (community and building) on their Person row, so the complaint form can
offer it ("还是万柳西园社区5号楼吗？") instead of asking from scratch; and a rider's phone from their
volunteer record, so a quick report does not ask for it again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from bot.core.db import get_engine, session_scope
from bot.people.models import Person
from bot.people.roles import person_row


@dataclass(frozen=True)
class Place:
    community: str
    building: str

    @property
    def label(self) -> str:
        return f"{self.community}{self.building}号楼"


def place_of(channel: str, sender_id: str, engine=None) -> Optional[Place]:
    """The community and building stored after the sender's last report, if any."""
    with session_scope(engine or get_engine()) as session:
        person = session.get(Person, (channel, sender_id))
        if person is None or not (person.community and person.building):
            return None
        return Place(person.community, person.building)


def remember_place(channel: str, sender_id: str, place: Place, engine=None) -> None:
    """Keeps the place of a report just filed (or joined) for the sender's next one."""
    with session_scope(engine or get_engine()) as session:
        person = person_row(session, channel, sender_id)
        person.community, person.building = place.community, place.building
        person.updated_at = datetime.now(timezone.utc)


def community_of_person(channel: str, sender_id: str, engine=None) -> Optional[str]:
    """The community on the sender's profile (from a report, or said when subscribing)."""
    with session_scope(engine or get_engine()) as session:
        person = session.get(Person, (channel, sender_id))
        return person.community if person else None


def remember_community(channel: str, sender_id: str, community: str, engine=None) -> None:
    """The community a subscriber lives in, so its notices reach them; a building of another
    community is forgotten with it."""
    with session_scope(engine or get_engine()) as session:
        person = person_row(session, channel, sender_id)
        if person.community != community:
            person.community, person.building = community, None
        person.updated_at = datetime.now(timezone.utc)
