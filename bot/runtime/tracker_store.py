"""Rasa's Redis tracker store, keeping no full phone number once a complaint is filed.

A conversation in Redis holds every message, every slot value and the NLU results of each turn, for
as long as ``record_exp`` (service.yml ``privacy.tracker_retention_days``). The ticket is the record
of a complaint and holds the phone in its own field; the conversation needs the phone only while a
form is still asking for it. So every tracker is saved with mobile numbers masked in all its text
(messages, NLU results, bot replies), and its slot values:

- while a form is active, kept as they are (the form files the ticket or sign-up with them, and
  must not read back a masked phone);
- once no form is active, masked too, and the phone slots (the complaint's, the rider's) emptied:
  the next form asks again instead of reading them back.

Rasa's own save compares the events it has with those stored to keep earlier conversation sessions;
stored events are masked and those in memory are not, so this save keeps the stored events older
than the tracker's first one and then the tracker's, all masked.
"""
from __future__ import annotations

import json
from typing import Any, Optional

from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

from bot.privacy.masks import mask_phones

#: Slots holding a phone number, emptied once no form needs them (dialogs/domain).
PHONE_SLOTS = ("phone", "volunteer_phone")


class PrivateRedisTrackerStore(RedisTrackerStore):
    """Endpoint ``tracker_store: {type: bot.runtime.tracker_store.PrivateRedisTrackerStore, …}``,
    with RedisTrackerStore's settings."""

    async def save(self, tracker: DialogueStateTracker, timeout: Optional[float] = None) -> None:
        await self.stream_events(tracker)
        key = self.key_prefix + tracker.sender_id
        dialogue = json.loads(self.serialise_tracker(tracker))
        events = dialogue.get("events") or []
        stored = self.red.get(key)
        if stored is not None and events:  # earlier sessions, which ``retrieve`` left out
            first = events[0]["timestamp"]
            events = [e for e in json.loads(stored).get("events") or () if e["timestamp"] < first] + events
        in_form = tracker.active_loop_name is not None
        dialogue["events"] = [scrubbed_event(event, in_form) for event in events]
        self.red.set(key, json.dumps(dialogue), ex=timeout or self.record_exp)


def scrubbed_event(event: dict, in_form: bool) -> dict:
    """One serialised event with phone numbers masked; slot events kept as they are while a form
    needs them, the phone slots' emptied otherwise."""
    if event.get("event") == "slot":
        if in_form:
            return event
        if event.get("name") in PHONE_SLOTS:
            return {**event, "value": None}
    return _masked(event)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_phones(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value
