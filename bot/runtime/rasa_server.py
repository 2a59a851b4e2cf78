"""Rasa's own command line, with two changes applied first: action-server responses validated by a
JSON-schema validator compiled once, and the last line of defence against typed intents.

Rasa 3.6 calls ``jsonschema.validate`` for every custom-action response, which re-checks the whole
response schema itself each time: about 80 ms of CPU per action call on these machines, more than
everything else in a turn together (see BENCHMARKS.md). The schema, the validation and the error
message are Rasa's; only the repeated schema check is gone.

Every channel screens what users type (``bot.channels.guard``); the processor screens it once more,
so a channel added later that forgets cannot let a user set an intent, entities or slots by
``/intent{json}``, nor any ``EXTERNAL_…`` intent (those come only through ``trigger_intent``,
which does not pass here). Run as ``python -m bot.runtime.rasa_server``
with the arguments of ``rasa``.
"""
from __future__ import annotations

import logging
import sys
from functools import lru_cache
from typing import Any, Dict, Text

from jsonschema import validators
from jsonschema.exceptions import best_match
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.constants import DOCS_BASE_URL


logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _response_validator():
    schema = RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    error = best_match(_response_validator().iter_errors(result))
    if error is not None:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from the "
            f"Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions")
        raise error
    return True


def screened(message: UserMessage) -> UserMessage:
    """``message`` as the dialogue may hear it: a typed ``/intent{…}`` (or any ``EXTERNAL_…`` one)
    becomes plain words, and parse results a channel attached for an ``EXTERNAL_…`` intent are dropped."""
    from bot.channels.guard import EXTERNAL_PREFIX, disarm, needs_disarming

    text, parse_data = message.text, message.parse_data
    if text and needs_disarming(text, message.metadata):
        logger.warning("A %s message used the intent syntax it may not; read as words", message.input_channel)
        text, parse_data = disarm(text), None
    if parse_data and str((parse_data.get("intent") or {}).get("name") or "").startswith(EXTERNAL_PREFIX):
        parse_data = None
    if text == message.text and parse_data is message.parse_data:
        return message
    return UserMessage(text, message.output_channel, message.sender_id, parse_data, message.input_channel,
                       message.message_id, message.metadata)


_handle_message_with_tracker = MessageProcessor._handle_message_with_tracker


async def _screened_handle(self: MessageProcessor, message: UserMessage, tracker) -> None:
    return await _handle_message_with_tracker(self, screened(message), tracker)


def install() -> None:
    RemoteAction._validate_action_result = _validate_action_result
    MessageProcessor._handle_message_with_tracker = _screened_handle


if __name__ == "__main__":
    install()
    from rasa.__main__ import main

    sys.argv[0] = "rasa"
    sys.exit(main())
