"""Linli's fixes to Rasa's per-turn work (bot.runtime.speedups) give exactly Rasa's answers."""
import copy
import random

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses
from rasa_sdk import events as sdk

from bot.runtime import speedups

SCHEMA = RemoteAction.action_response_format_spec()
#: One of every event an action can return, as rasa-sdk writes them.
EVENTS = [sdk.SlotSet("building", "5"), sdk.SlotSet("photo", None), sdk.AllSlotsReset(), sdk.Restarted(),
          sdk.FollowupAction("action_listen"), sdk.ActiveLoop("report_form"), sdk.ActiveLoop(None),
          sdk.ReminderScheduled("EXTERNAL_followup", trigger_date_time=__import__("datetime").datetime(2026, 12, 2),
                                entities={"ticket_id": "GD1"}, name="r1"),
          sdk.ReminderCancelled(name="r1"), sdk.ActionExecuted("action_listen"), sdk.UserUttered("你好"),
          sdk.BotUttered("好的", {"buttons": []}), sdk.SessionStarted(), sdk.ConversationPaused(),
          sdk.ConversationResumed(), sdk.UserUtteranceReverted(), sdk.ActionReverted(),
          sdk.StoryExported(), sdk.ActionExecutionRejected("report_form"), sdk.LoopInterrupted(True)]


def _rasa_says(document) -> bool:
    try:
        jsonschema.validate(document, SCHEMA)
        return True
    except jsonschema.ValidationError:
        return False


def _linli_says(document) -> bool:
    try:
        return speedups._validate_action_result(None, document)
    except jsonschema.ValidationError as error:
        assert "Failed to validate Action server response" in error.message
        return False


def _mutations(rng: random.Random, count: int):
    """Responses with one event broken the ways a buggy action server breaks them."""
    junk = [None, "x", 7, 1.5, [], {}, True]
    for _ in range(count):
        events = copy.deepcopy(rng.sample(EVENTS, rng.randint(1, 4)))
        victim = rng.choice(events)
        kind = rng.randrange(4)
        if kind == 0:
            victim[rng.choice(list(victim))] = rng.choice(junk)
        elif kind == 1:
            victim.pop(rng.choice(list(victim)))
        elif kind == 2:
            victim["event"] = rng.choice(["nope", "Slot", "", None])
        else:
            events[events.index(victim)] = rng.choice(junk)
        yield {"events": events, "responses": [{"text": "好的"}]}


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e["event"])
def test_every_event_an_action_returns_gets_rasas_verdict(event):
    document = {"events": [event], "responses": [{"text": "好的", "buttons": []}]}
    assert _linli_says(document) is _rasa_says(document)


@pytest.mark.parametrize("bad", [{"events": "nope"}, {"events": [{"event": "slot", "timestamp": "yesterday"}]},
                                 {"responses": "x"}, [], "x", {"events": [None]}])
def test_what_rasa_rejects_is_rejected_with_rasas_message(bad):
    assert _rasa_says(bad) is False
    assert _linli_says(bad) is False


def test_broken_responses_get_the_same_verdict_as_rasas_own_check():
    assert _linli_says({"events": EVENTS[:9], "responses": []}) is True
    for document in _mutations(random.Random(20261202), 250):
        assert _linli_says(document) is _rasa_says(document), document


def test_event_classes_resolve_as_rasa_resolves_them():
    speedups.install()
    for cls in all_subclasses(Event):
        assert Event.resolve_by_type(cls.type_name) is speedups._rasa_resolve_by_type(cls.type_name)
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("nope", default=Event) is Event
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("nope")


def test_a_message_waiting_for_its_conversation_looks_again_soon(monkeypatch):
    """Rasa's lock store polls once a second; Linli's every LOCK_POLL_SECONDS (the wait between
    looks, not a timing: asyncio.sleep is recorded)."""
    import asyncio

    from rasa.core import lock_store

    speedups.install()
    waits = []
    real_sleep = asyncio.sleep

    async def recorded(seconds, *args):
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(lock_store.asyncio, "sleep", recorded)
    store = lock_store.InMemoryLockStore()
    order = []

    async def turn(name: str, hold: int) -> None:
        async with store.lock("desk"):
            order.append(name)
            for _ in range(hold):
                await real_sleep(0)

    async def both() -> None:
        await asyncio.gather(turn("first", 5), turn("second", 0))

    asyncio.run(both())
    assert order == ["first", "second"]
    assert waits and set(waits) == {speedups.LOCK_POLL_SECONDS}
