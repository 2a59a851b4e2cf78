"""Rasa's turn, made safe to fail: while the action server or Redis is down a resident hears
"系统忙，请稍后再发一次" (bot/data/runtime.yml) instead of silence, and nothing of that turn is kept.

Rasa 3.6 logs a failed custom-action call, drops its events and carries on: a form loses its
validation, the next prediction runs on a half-updated tracker (the form closes, "确认" is later
"没太明白"), and that tracker is saved. Here a turn in which the action server could not be
reached, or answered with an error, stops predicting at once, is not saved, and says it is busy:
the resident sends the message again and the conversation carries on from where it was. Filing is
idempotent (bot.tickets.intake), so a repeated confirmation whose first attempt did file a ticket
gets that same ticket.

A turn that cannot reach Redis (tracker or lock store) gets the same answer. Rasa's Redis clients
get the retrying options of bot.core.redis so that stale connections after a Redis restart cost a
reconnect, not a failed turn. A ``trigger_intent`` (the scheduler) whose actions failed is not
saved either and answers with an error, so the scheduler's delivery tries again later.

Dead Rasa worker processes are replaced (bot.runtime.workers). Installed into the Rasa process by
bot.runtime.rasa_server.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
from dataclasses import dataclass
from typing import Iterator

log = logging.getLogger(__name__)


@dataclass
class _Turn:
    """This turn's state: set when an action of it could not run."""

    failed_action: str | None = None


_turn: contextvars.ContextVar[_Turn | None] = contextvars.ContextVar("linli_turn", default=None)


@contextlib.contextmanager
def _watching() -> Iterator[_Turn]:
    """A fresh turn state for what runs inside (the same asyncio task)."""
    turn = _Turn()
    token = _turn.set(turn)
    try:
        yield turn
    finally:
        _turn.reset(token)


class TurnNotCompleted(RuntimeError):
    """A triggered intent whose actions could not run; Rasa's API answers it with a 500."""


def _busy_text() -> str:
    from bot.config.runtime import runtime_config

    return runtime_config().system_busy


async def _say_busy(output_channel, recipient_id: str) -> None:
    try:
        await output_channel.send_text_message(recipient_id, _busy_text())
    except Exception:  # noqa: BLE001 - the channel itself is down: nothing more can be said
        log.exception("could not tell %s that the system is busy", type(output_channel).__name__)


def _watch_remote_actions(RemoteAction, ActionExecutionRejection) -> None:
    run = RemoteAction.run

    @functools.wraps(run)
    async def guarded(self, output_channel, nlg, tracker, domain):
        try:
            return await run(self, output_channel, nlg, tracker, domain)
        except ActionExecutionRejection:
            raise  # a form rejecting its slot is an answer, not a failure
        except Exception:
            turn = _turn.get()
            if turn is not None:
                turn.failed_action = self.name()
            raise

    RemoteAction.run = guarded


def _stop_failed_turns(MessageProcessor) -> None:
    run_action, save_tracker = MessageProcessor._run_action, MessageProcessor.save_tracker

    @functools.wraps(run_action)
    async def stop_after_failure(self, action, tracker, output_channel, nlg, prediction):
        again = await run_action(self, action, tracker, output_channel, nlg, prediction)
        turn = _turn.get()
        return again and not (turn is not None and turn.failed_action)

    @functools.wraps(save_tracker)
    async def keep_unless_failed(self, tracker):
        turn = _turn.get()
        if turn is not None and turn.failed_action:
            log.warning("turn of %s not saved: action %s failed", tracker.sender_id, turn.failed_action)
            return
        await save_tracker(self, tracker)

    handle_message = MessageProcessor.handle_message

    @functools.wraps(handle_message)
    async def handle(self, message):
        with _watching() as turn:
            replies = await handle_message(self, message)
        if turn.failed_action:
            await _say_busy(message.output_channel, message.sender_id)
        return replies

    trigger = MessageProcessor.trigger_external_user_uttered

    @functools.wraps(trigger)
    async def triggered(self, intent_name, entities, tracker, output_channel):
        with _watching() as turn:
            await trigger(self, intent_name, entities, tracker, output_channel)
        if turn.failed_action:
            raise TurnNotCompleted(f"{intent_name} for {tracker.sender_id}: action {turn.failed_action} failed")

    MessageProcessor._run_action, MessageProcessor.save_tracker = stop_after_failure, keep_unless_failed
    MessageProcessor.handle_message, MessageProcessor.trigger_external_user_uttered = handle, triggered


def _answer_when_redis_is_down(Agent) -> None:
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.lock_store import LockError
    from redis.exceptions import RedisError

    handle_message = Agent.handle_message

    @functools.wraps(handle_message)
    async def handle(self, message):
        try:
            return await handle_message(self, message)
        except (RedisError, LockError) as error:
            log.error("turn of %s not handled, Redis unavailable: %s", message.sender_id, type(error).__name__)
            await _say_busy(message.output_channel, message.sender_id)
            if isinstance(message.output_channel, CollectingOutputChannel):
                return message.output_channel.messages
            return None

    Agent.handle_message = handle


def _retrying_redis_clients(*store_classes) -> None:
    from bot.core.redis import resilient_options

    for store_class in store_classes:
        init = store_class.__init__

        @functools.wraps(init)
        def with_retries(self, *args, _init=init, **kwargs):
            _init(self, *args, **kwargs)
            self.red.connection_pool.connection_kwargs.update(resilient_options())

        store_class.__init__ = with_retries


def install() -> None:
    from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
    from rasa.core.agent import Agent
    from rasa.core.lock_store import RedisLockStore
    from rasa.core.processor import MessageProcessor
    from rasa.core.tracker_store import RedisTrackerStore

    from bot.runtime import workers

    _watch_remote_actions(RemoteAction, ActionExecutionRejection)
    _stop_failed_turns(MessageProcessor)
    _answer_when_redis_is_down(Agent)
    _retrying_redis_clients(RedisTrackerStore, RedisLockStore)
    workers.install()
