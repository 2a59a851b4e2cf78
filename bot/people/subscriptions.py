"""Whether a resident receives broadcast notices."""
from __future__ import annotations

from bot.core.clock import utcnow
from bot.core.db import get_engine, session_scope
from bot.people.models import Person
from bot.people.roles import person_row


def set_subscription(channel: str, sender_id: str, subscribed: bool, engine=None) -> bool:
    """Records the choice; returns whether it changed anything (to word the reply honestly)."""
    with session_scope(engine or get_engine()) as session:
        person = session.get(Person, (channel, sender_id))
        if person is None:
            person = person_row(session, channel, sender_id)
            person.subscribed = not subscribed
        changed = person.subscribed != subscribed
        person.subscribed, person.updated_at = subscribed, utcnow()
        return changed


def is_subscribed(channel: str, sender_id: str, engine=None) -> bool:
    with session_scope(engine or get_engine()) as session:
        person = session.get(Person, (channel, sender_id))
        return bool(person and person.subscribed)
