"""Call-backs (转人工): the resident leaves a phone and a good time, staff tap 已回电, the resident
hears it is done. The records and rules are bot/callbacks; the notices bot/workflows/callbacks."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.common import entity, in_group, local_time, reporter, store
from actions.report import draft_of, is_cancel
from bot.callbacks import store as callbacks
from bot.core.errors import UserError
from bot.core.text import parse_phone
from bot.people import roster
from bot.people.profiles import place_of
from bot.privacy.masks import mask_phone
from bot.workflows.callbacks import plan_now

FORM = "callback_form"
#: The form's slots when it asks nothing: the resident already has an open request, wrote from a
#: group, or said "算了".
ALREADY, GROUP, CANCELLED = "already", "group", "cancelled"
ON_FILE_TITLE = "就打这个号码"
TIME_MAX_CHARS = 60


def _text(tracker: Tracker) -> str:
    return ((tracker.latest_message or {}).get("text") or "").strip()


def _asked(tracker: Tracker) -> Optional[str]:
    return tracker.get_slot("requested_slot") if (tracker.active_loop or {}).get("name") == FORM else None


class ValidateCallbackForm(FormValidationAction):
    """Asks nothing of a resident whose request is already open (one open request each) or who
    writes from a group; otherwise a phone (the one on file offered) and a good time."""

    def name(self) -> Text:
        return "validate_callback_form"

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        if tracker.get_slot("callback_phone") in (ALREADY, GROUP, CANCELLED):
            return []
        return domain_slots

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        if _asked(tracker) is None:  # just activated
            why_not = GROUP if in_group(tracker) else ALREADY if callbacks.open_for(store(), *reporter(tracker)) else None
            if why_not:
                return [SlotSet("callback_phone", why_not), SlotSet("requested_slot", None)]
            return await super().run(dispatcher, tracker, domain)
        if is_cancel(tracker):
            return [SlotSet("callback_phone", CANCELLED), SlotSet("requested_slot", None)]
        return await super().run(dispatcher, tracker, domain)

    async def extract_callback_phone(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: DomainDict) -> Dict[Text, Any]:
        return {"callback_phone": _text(tracker)} if _asked(tracker) == "callback_phone" else {}

    async def extract_callback_time(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> Dict[Text, Any]:
        return {"callback_time": _text(tracker)} if _asked(tracker) == "callback_time" else {}

    def validate_callback_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> Dict[Text, Any]:
        on_file = callbacks.phone_on_file(store(), *reporter(tracker))
        if on_file and ON_FILE_TITLE in str(value or ""):
            return {"callback_phone": on_file}
        phone = parse_phone(next(tracker.get_latest_entity_values("phone"), None) or str(value or ""))
        if phone is None:
            dispatcher.utter_message(response="utter_callback_phone_invalid")
        return {"callback_phone": phone}

    def validate_callback_time(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> Dict[Text, Any]:
        value = str(value or "").strip()[:TIME_MAX_CHARS]
        return {"callback_time": value or None}


class ActionAskCallbackPhone(Action):
    """Offers the phone the resident gave before, masked, instead of asking from scratch."""

    def name(self) -> Text:
        return "action_ask_callback_phone"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        on_file = callbacks.phone_on_file(store(), *reporter(tracker))
        if on_file:
            dispatcher.utter_message(response="utter_ask_callback_phone_on_file", phone=mask_phone(on_file),
                                     buttons=[{"title": ON_FILE_TITLE, "payload": ON_FILE_TITLE}])
        else:
            dispatcher.utter_message(response="utter_ask_callback_phone")
        return []


class ActionRequestHuman(Action):
    """Records the call-back (or finds the one already open), has staff told at once, and tells the
    resident when and on which number to expect the call."""

    def name(self) -> Text:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        reset = [SlotSet("callback_phone", None), SlotSet("callback_time", None)]
        phone, channel_sender = tracker.get_slot("callback_phone"), reporter(tracker)
        if phone == GROUP:
            dispatcher.utter_message(response="utter_callback_private_only")
            return reset
        if phone == CANCELLED:
            dispatcher.utter_message(response="utter_callback_cancelled")
            return reset
        place = place_of(*channel_sender, engine=store().engine)
        draft = draft_of(tracker)  # a report begun and not filed goes to the person with the request
        note = "\n".join(n for n in (_asking_text(tracker), draft.get("note")) if n) or None
        # the community's staff call back: the one on file, else the one this conversation named
        # (a report begun, a question about a building); none, the street's staff
        community = (place.community if place else None) or tracker.get_slot("community")
        try:
            request, new = callbacks.request(store(), *channel_sender, phone=parse_phone(phone),
                                             preferred_time=tracker.get_slot("callback_time"),
                                             note=note, community=community)
        except UserError as error:
            dispatcher.utter_message(text=error.user_message)
            return reset
        if new:
            plan_now(store(), request)
        shown = {"expected_by": local_time(request.expected_by), "phone": mask_phone(request.phone) or "您"}
        if new:
            dispatcher.utter_message(response="utter_human_requested", **shown)
        else:
            dispatcher.utter_message(response="utter_callback_already", callback_id=request.id, **shown)
        return reset + draft.get("reset", [])


def _asking_text(tracker: Tracker) -> Optional[str]:
    """What the resident said when asking for a person ("想找人当面说说漏水的事")."""
    for event in reversed(tracker.events):
        if event.get("event") == "user" and (event.get("parse_data") or {}).get("intent", {}).get("name") == \
                "request_human":
            return event.get("text")
    return None


class ActionCallbackDone(Action):
    """已回电 from the staff notice: staff of the request's community (or the street) only."""

    def name(self) -> Text:
        return "action_callback_done"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        member = roster.authorize(*reporter(tracker), store().engine)
        if member is None:
            dispatcher.utter_message(response="utter_staff_refused")
            return []
        try:
            done = callbacks.mark_done(store(), entity(tracker, "callback_id"), member.actor,
                                       communities=member.communities)
        except UserError as error:
            dispatcher.utter_message(text=error.user_message)
            return []
        plan_now(store(), done)
        dispatcher.utter_message(response="utter_staff_callback_done", callback_id=done.id)
        return []


class ActionCallbackTold(Action):
    """The resident hears their call-back was made (EXTERNAL_callback_done from the scheduler)."""

    def name(self) -> Text:
        return "action_callback_told"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        done = callbacks.get(store(), entity(tracker, "callback_id"))
        if done is None or done.status != "done" or (done.channel, done.sender_id) != reporter(tracker):
            return []
        dispatcher.utter_message(response="utter_callback_told", callback_id=done.id)
        return []
