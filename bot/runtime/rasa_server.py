"""Rasa's own command line, with two kinds of change applied first: Linli's fixes to Rasa's per-turn
work (``bot.runtime.speedups``) and the last line of defence against typed intents.

Every channel screens what users type (``bot.channels.guard``); the processor screens it once more,
so a channel added later that forgets cannot let a user set an intent, entities or slots by
``/intent{json}``, nor any ``EXTERNAL_…`` intent (those come only through ``trigger_intent``,
which does not pass here). Run as ``python -m bot.runtime.rasa_server`` with the arguments of ``rasa``.
"""
from __future__ import annotations

import logging
import sys

from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor

from bot.runtime import resilience, speedups

logger = logging.getLogger(__name__)


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
    speedups.install()
    MessageProcessor._handle_message_with_tracker = _screened_handle
    resilience.install()  # a turn whose action server or Redis is down says so and is not saved


if __name__ == "__main__":
    from bot.privacy import logs

    logs.install()
    install()
    from rasa.__main__ import main

    sys.argv[0] = "rasa"
    sys.exit(main())
