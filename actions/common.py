"""What every action needs: who is talking, where, and the shared store and directory."""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, Callable, Hashable

from rasa_sdk import Tracker

from bot.config.directory import Directory, get_directory
from bot.core import text
from bot.core.settings import get_settings
from bot.tickets.store import TicketStore


@lru_cache(maxsize=1)
def store() -> TicketStore:
    """One store per action-server process: it holds the engine and its connection pool."""
    return TicketStore()


def directory() -> Directory:
    return get_directory()


def reporter(tracker: Tracker) -> tuple[str, str]:
    """(channel, sender id): the identity a ticket belongs to and that may read it back."""
    return tracker.get_latest_input_channel() or "rest", tracker.sender_id


def recipient(tracker: Tracker) -> tuple[str | None, str]:
    """(channel, sender id) of the conversation a proactive message landed in. The channel is None
    when nobody ever wrote in it (a staff duty account told by the scheduler): nobody can have typed
    anything there either, so the conversation id alone says who it is."""
    return tracker.get_latest_input_channel(), tracker.sender_id


def message_metadata(tracker: Tracker) -> dict:
    return (tracker.latest_message or {}).get("metadata") or {}


def in_group(tracker: Tracker) -> bool:
    """Group chats never see phone numbers, room numbers or ticket details."""
    return message_metadata(tracker).get("chat_type") in {"group", "supergroup"}


def local_time(moment: datetime) -> str:
    """Deadlines as residents read them: local date and hour, no year."""
    return text.local_time(moment, get_settings().timezone)


def entity(tracker: Tracker, name: str) -> str | None:
    """The latest message's value of an entity (buttons and proactive intents carry theirs)."""
    return next(tracker.get_latest_entity_values(name), None)


def mentioned(tracker: Tracker) -> set:
    """The entity names the latest message carries ("building", "room", ...)."""
    return {e.get("entity") for e in (tracker.latest_message or {}).get("entities") or []}


def latest_intent(tracker: Tracker) -> str | None:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def once_per_request(tracker: Tracker, key: Hashable, compute: Callable[[], Any]) -> Any:
    """``compute()`` once for this action call (the tracker object lives for one request). Rasa's
    form machinery asks ``required_slots`` several times per validation, and each asked the
    database again for the sender's role and the duplicate search: a third of the action server's
    CPU per form turn (bench/PROFILE.md, fix 1). ``key`` must name everything the value depends on."""
    cache = tracker.__dict__.setdefault("_linli_once", {})
    if key not in cache:
        cache[key] = compute()
    return cache[key]
