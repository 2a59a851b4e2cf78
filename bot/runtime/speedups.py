"""Fixes to Rasa 3.6's own per-turn work, installed in the Rasa process before it starts.

Each replaces a step Rasa repeats on every turn with the same result computed once (measured in
``bench/PROFILE.md`` and ``bench/rasa_micro.py``); Rasa's behaviour, schemas and error messages are
unchanged:

- Action-server responses are validated against Rasa's schema by a validator compiled once, and
  each event against the schema branch of its own type (the schema's ``oneOf`` tells event types
  apart by ``event: {const: …}``), instead of re-checking the schema and trying all 23 branches.
  Anything invalid is checked again by the full schema, so the error is Rasa's own.
- ``Event.resolve_by_type`` looks the class up in a dictionary instead of walking every subclass of
  ``Event`` for each event turned back from a dict (tracker retrieve and save, action responses).
- A message waiting for its conversation's lock looks again every 50 ms, not every second: a
  handler's desk or a staff member receiving many notices at once (each one a turn in the same
  conversation) waited up to a second per notice ahead of it (bench/dispatch.py).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, Optional, Text, Type

from jsonschema import validators
from jsonschema.exceptions import best_match
from rasa.core.actions.action import RemoteAction
from rasa.core.lock_store import LOCK_LIFETIME, LockStore
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses

_rasa_resolve_by_type = Event.resolve_by_type
_rasa_lock = LockStore.lock
LOCK_POLL_SECONDS = 0.05


class _ResponseValidator:
    """Rasa's action-response schema, split into one compiled validator per event type."""

    def __init__(self) -> None:
        schema = RemoteAction.action_response_format_spec()
        validator_class = validators.validator_for(schema)
        validator_class.check_schema(schema)
        self.full = validator_class(schema)
        item = schema["properties"]["events"]["items"]
        shared = {key: value for key, value in item.items() if key != "oneOf"}
        self.by_event = {branch["properties"]["event"]["const"]: validator_class({"allOf": [shared, branch]})
                         for branch in item["oneOf"]}
        assert len(self.by_event) == len(item["oneOf"]), "every event branch names its event type"
        rest = {key: value for key, value in schema["properties"].items() if key != "events"}
        self.without_events = validator_class({**schema, "properties": rest})

    def is_valid(self, result: Any) -> bool:
        if not isinstance(result, dict) or not isinstance(result.get("events", []), list):
            return False
        for event in result.get("events") or []:
            name = event.get("event") if isinstance(event, dict) else None
            validator = self.by_event.get(name) if isinstance(name, str) else None
            if validator is None or not validator.is_valid(event):
                return False
        return self.without_events.is_valid(result)

    def error(self, result: Any):
        return best_match(self.full.iter_errors(result))


@lru_cache(maxsize=1)
def _response_validator() -> _ResponseValidator:
    return _ResponseValidator()


def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    validator = _response_validator()
    if validator.is_valid(result):
        return True
    error = validator.error(result)
    if error is None:  # the split check is stricter than the schema: the schema decides
        return True
    error.message += (
        ". Failed to validate Action server response from API, make sure your response from the "
        f"Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions")
    raise error


_event_classes: Dict[Text, Type[Event]] = {}


def _resolve_by_type(type_name: Text, default: Optional[Type[Event]] = None) -> Optional[Type[Event]]:
    """Rasa's lookup from a dictionary, rebuilt when a name is missing (an event class defined
    later); unknown names then get Rasa's own answer (``topic``, the default or its error)."""
    cls = _event_classes.get(type_name)
    if cls is None:
        for subclass in all_subclasses(Event):  # Rasa returns the first class with the name
            _event_classes.setdefault(subclass.type_name, subclass)
        cls = _event_classes.get(type_name)
    return cls if cls is not None else _rasa_resolve_by_type(type_name, default)


def _lock(self: LockStore, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME,
          wait_time_in_seconds: float = LOCK_POLL_SECONDS):
    return _rasa_lock(self, conversation_id, lock_lifetime, wait_time_in_seconds)


def install() -> None:
    RemoteAction._validate_action_result = _validate_action_result
    Event.resolve_by_type = staticmethod(_resolve_by_type)
    LockStore.lock = _lock
