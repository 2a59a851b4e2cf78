"""Roles (resident, volunteer, staff) of the people Linli talks to, asked in one place by every process."""
from __future__ import annotations

import re

from bot.core.clock import utcnow
from bot.core.db import get_engine, session_scope
from bot.people.models import Person, PersonRole

ROLES = tuple(role.value for role in PersonRole)


#: A member of a Telegram group talks in a conversation of their own, "<group id>:<user id>".
_GROUP_MEMBER = re.compile(r"^-\d+:(\d+)$")


def person_row(session, channel: str, sender_id: str) -> Person:
    person = session.get(Person, (channel, sender_id))
    if person is None:
        person = Person(channel=channel, sender_id=sender_id, role="resident", subscribed=False, topics=[],
                        staff_communities=[], updated_at=utcnow())
        session.add(person)
    return person


def person_id(channel: str, sender_id: str) -> tuple[str, str]:
    """Whose role a conversation carries: a Telegram group member is the same person as in private."""
    member = _GROUP_MEMBER.match(sender_id or "")
    return channel, member.group(1) if member else sender_id


def role_of(channel: str, sender_id: str, engine=None) -> str:
    """``resident``, ``volunteer`` or ``staff``: asked afresh on every staff command, never cached,
    so a removed staff member loses access at once."""
    with session_scope(engine or get_engine()) as session:
        person = session.get(Person, person_id(channel, sender_id))
        return person.role if person else "resident"


def staff_communities(channel: str, sender_id: str, engine=None) -> tuple[str, ...]:
    """The communities a staff member serves; empty for the whole street (and for non-staff)."""
    with session_scope(engine or get_engine()) as session:
        person = session.get(Person, person_id(channel, sender_id))
        return tuple(person.staff_communities or ()) if person and person.role == "staff" else ()


def set_volunteer_role(session, channel: str, sender_id: str, active: bool) -> None:
    """An approved rider becomes a volunteer, a paused one a resident again; staff stay staff."""
    person = person_row(session, channel, sender_id)
    if person.role != "staff":
        person.role = "volunteer" if active else "resident"
        person.updated_at = utcnow()
