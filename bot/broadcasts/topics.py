"""Notice topics residents choose, and the communities staff broadcast to."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from bot.broadcasts.compose import topic_of
from bot.config.broadcasts import BroadcastConfig, get_config
from bot.core.db import session_scope
from bot.people.models import Person

# -- residents' topics ---------------------------------------------------------------------------------

def choose_topic(engine, channel: str, sender_id: str, topic: Optional[str], now: datetime,
                 config: Optional[BroadcastConfig] = None) -> tuple[bool, list[str]]:
    """Adds a topic to the person's choice (the first choice narrows "everything" to it); ``None``
    goes back to everything. Returns (subscribed, topics) so the reply can be honest."""
    config = config or get_config()
    topic = topic_of(topic, config) if topic is not None else None
    with session_scope(engine) as session:
        person = session.get(Person, (channel, sender_id))
        if person is None:
            person = Person(channel=channel, sender_id=sender_id, role="resident", subscribed=False, topics=[])
            session.add(person)
        chosen = [] if topic is None else sorted(set(person.topics or []) | {topic}, key=list(config.topics).index)
        person.topics, person.updated_at = chosen, now
        return bool(person.subscribed), chosen


def serves(engine, channel: str, sender_id: str) -> tuple[str, ...]:
    """The communities a staff member serves (empty: the whole street)."""
    with session_scope(engine) as session:
        person = session.get(Person, (channel, sender_id))
        return tuple(person.staff_communities or ()) if person else ()


def topics_of(engine, channel: str, sender_id: str) -> list[str]:
    with session_scope(engine) as session:
        person = session.get(Person, (channel, sender_id))
        return list(person.topics or []) if person else []
