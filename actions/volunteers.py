"""Rider volunteers in chat: the sign-up form, "all clear" answers to duty nudges, and points.

Every answer is checked by bot/volunteers.py (the command line refuses the same things the same
way); the form stores nothing until the rider consents at the end, and shows the phone masked.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.answers import answer_in_place
from actions.common import directory, entity, in_group, latest_intent, reporter, store
from actions.report import is_cancel
from bot.config.policy import get_policy
from bot.config.service import wording
from bot.privacy.masks import mask_phone
from bot.volunteers import patrol, points, records, signup

FORM = "volunteer_form"
SLOTS = ("volunteer_name", "volunteer_phone", "volunteer_platform", "volunteer_areas", "volunteer_times",
         "volunteer_consent", "volunteer_summary", "volunteer_stopped")
CONSENT_YES, CONSENT_NO = wording("buttons", "consent_agree"), wording("buttons", "consent_refuse")
NUMERIC_SLOTS = ("volunteer_phone", "volunteer_times")
#: Answers that fail this often for one question end the sign-up with an offer of a person.
MAX_TRIES = 3
_STOPPED_RESPONSES = {"cancelled": "utter_volunteer_cancelled", "stuck": "utter_volunteer_stuck",
                      "group": "utter_volunteer_private_only"}


def _text(tracker: Tracker) -> str:
    return ((tracker.latest_message or {}).get("text") or "").strip()


def _starting(tracker: Tracker) -> bool:
    return (tracker.active_loop or {}).get("name") != FORM and tracker.get_slot("requested_slot") is None


def _asked(tracker: Tracker, slot: str) -> bool:
    return tracker.get_slot("requested_slot") == slot


def _numeric_answer(tracker: Tracker) -> bool:
    """Digits given when a phone number or times were asked for answer that question, whatever the
    classifier made of them ("1381234" is no question about 12345)."""
    return tracker.get_slot("requested_slot") in NUMERIC_SLOTS and any(c.isdigit() for c in _text(tracker))


class ValidateVolunteerForm(FormValidationAction):
    """Reads each answer when its question was asked (and whatever the opening message already
    said: "我是美团骑手，在西园跑单"), checks it, and says what is wrong before asking again."""

    def name(self) -> Text:
        return "validate_volunteer_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        if _starting(tracker):
            why_not = self._why_not(tracker)
            if why_not:
                return [SlotSet("volunteer_stopped", why_not), SlotSet("requested_slot", None)]
            dispatcher.utter_message(response="utter_volunteer_intro")
        elif is_cancel(tracker):
            return [SlotSet("volunteer_stopped", "cancelled"), SlotSet("requested_slot", None)]
        elif latest_intent(tracker) == "request_human":
            return []  # nothing taken: the form steps aside and the rule hands over to a person
        elif not _numeric_answer(tracker) and answer_in_place(dispatcher, tracker):
            return [SlotSet(tracker.get_slot("requested_slot"), None)]
        events = await super().run(dispatcher, tracker, domain)
        events += self._count_try(tracker, events)
        return events + self._summary(tracker, events)

    @staticmethod
    def _why_not(tracker: Tracker) -> Optional[str]:
        if in_group(tracker):
            return "group"
        if records.get(store().engine, *reporter(tracker)) is not None:
            return "registered"
        return None

    @staticmethod
    def _count_try(tracker: Tracker, events: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
        asked = tracker.get_slot("requested_slot")
        if not asked:
            return []
        if any(e.get("name") == asked and e.get("value") is not None for e in events if e.get("event") == "slot"):
            return [SlotSet("failed_attempts", 0)]
        tries = int(tracker.get_slot("failed_attempts") or 0) + 1
        if tries < MAX_TRIES:
            return [SlotSet("failed_attempts", tries)]
        return [SlotSet("volunteer_stopped", "stuck"), SlotSet("requested_slot", None)]

    @staticmethod
    def _summary(tracker: Tracker, events: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
        """The answers to confirm, phone masked, ready for the consent question (a templated response)."""
        slots = {**tracker.slots, **{e["name"]: e["value"] for e in events if e.get("event") == "slot"}}
        if slots.get("volunteer_stopped") or any(slots.get(s) is None for s in SLOTS[:5]):
            return []
        summary = "\n".join((f"称呼：{slots['volunteer_name']}", f"手机：{mask_phone(slots['volunteer_phone'])}",
                             f"平台：{slots['volunteer_platform']}", f"巡查：{'、'.join(slots['volunteer_areas'])}",
                             f"提醒：每天{'、'.join(slots['volunteer_times'])}"))
        return [SlotSet("volunteer_summary", summary)]

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        return [] if tracker.get_slot("volunteer_stopped") else domain_slots

    # -- reading answers (the opening message may already name phone, platform and area) ----------

    async def extract_volunteer_name(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return {"volunteer_name": _text(tracker)} if _asked(tracker, "volunteer_name") else {}

    async def extract_volunteer_phone(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        said = _text(tracker) if _asked(tracker, "volunteer_phone") else _starting(tracker) and entity(tracker, "phone")
        return {"volunteer_phone": said} if said else {}

    async def extract_volunteer_platform(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if _asked(tracker, "volunteer_platform"):
            return {"volunteer_platform": _text(tracker)}
        named = _starting(tracker) and next((p for p in signup.KNOWN_PLATFORMS if p in _text(tracker)), None)
        return {"volunteer_platform": named} if named else {}

    async def extract_volunteer_areas(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if _asked(tracker, "volunteer_areas") or (_starting(tracker) and entity(tracker, "community")):
            return {"volunteer_areas": _text(tracker)}
        return {}

    async def extract_volunteer_times(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return {"volunteer_times": _text(tracker)} if _asked(tracker, "volunteer_times") else {}

    async def extract_volunteer_consent(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if not _asked(tracker, "volunteer_consent"):
            return {}
        text = _text(tracker)
        if CONSENT_NO in text or CONSENT_YES in text:  # the buttons' words, typed
            return {"volunteer_consent": CONSENT_NO not in text}
        return {"volunteer_consent": {"affirm": True, "deny": False}.get(latest_intent(tracker) or "", "")}

    # -- checking them -------------------------------------------------------------------------

    @staticmethod
    def _checked(dispatcher: CollectingDispatcher, slot: str, check) -> Dict[Text, Any]:
        try:
            return {slot: check()}
        except records.VolunteerError as error:
            dispatcher.utter_message(text=error.user_message)
            return {slot: None}

    def validate_volunteer_name(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._checked(dispatcher, "volunteer_name", lambda: signup.parse_name(str(value)))

    def validate_volunteer_phone(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._checked(dispatcher, "volunteer_phone", lambda: signup.parse_rider_phone(str(value)))

    def validate_volunteer_platform(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._checked(dispatcher, "volunteer_platform", lambda: signup.parse_platform(str(value)))

    def validate_volunteer_areas(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._checked(dispatcher, "volunteer_areas",
                             lambda: list(signup.parse_areas(str(value), directory())))

    def validate_volunteer_times(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        from bot.volunteers.nudges import NudgeError

        try:
            return {"volunteer_times": signup.parse_nudge_times(str(value), get_policy())}
        except NudgeError as error:
            dispatcher.utter_message(text=error.user_message)
            return {"volunteer_times": None}

    def validate_volunteer_consent(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if isinstance(value, bool):
            return {"volunteer_consent": value}
        dispatcher.utter_message(text="请点“同意”或“不同意”。")
        return {"volunteer_consent": None}


class ActionAskVolunteerAreas(Action):
    """The street's communities as buttons, plus "all of them"."""

    def name(self) -> Text:
        return "action_ask_volunteer_areas"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        names = [c.name for c in directory().communities] + [signup.WHOLE_STREET[0]]
        dispatcher.utter_message(response="utter_ask_volunteer_areas",
                                 buttons=[{"title": n, "payload": n} for n in names])
        return []


class ActionSubmitVolunteer(Action):
    """Records the sign-up (pending until staff approve) and welcomes the rider, or says why not."""

    def name(self) -> Text:
        return "action_submit_volunteer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        reset = [SlotSet(slot, None) for slot in SLOTS] + [SlotSet("failed_attempts", 0)]
        stopped = tracker.get_slot("volunteer_stopped")
        channel, sender_id = reporter(tracker)
        if stopped == "registered":
            rider = records.get(store().engine, channel, sender_id)
            dispatcher.utter_message(response=f"utter_volunteer_already_{rider.status}")
        elif stopped:
            dispatcher.utter_message(response=_STOPPED_RESPONSES[stopped])
        elif tracker.get_slot("volunteer_consent") is not True:
            dispatcher.utter_message(response="utter_volunteer_no_consent")
        else:
            self._sign_up(dispatcher, tracker, channel, sender_id)
        return reset

    @staticmethod
    def _sign_up(dispatcher: CollectingDispatcher, tracker: Tracker, channel: str, sender_id: str) -> None:
        try:
            rider = signup.sign_up(
                store().engine, get_policy(), directory(), channel, sender_id,
                name=tracker.get_slot("volunteer_name"), phone=tracker.get_slot("volunteer_phone"),
                platform=tracker.get_slot("volunteer_platform"), areas=tracker.get_slot("volunteer_areas") or (),
                times=tracker.get_slot("volunteer_times") or (), consent=True, now=store().clock())
        except records.VolunteerError as error:
            dispatcher.utter_message(text=error.user_message)
            return
        dispatcher.utter_message(response="utter_volunteer_welcome", name=rider.name,
                                 times="、".join(rider.nudge_times), areas="、".join(rider.areas))


class ActionPatrolAllClear(Action):
    """Records a patrolling rider's "all clear" once per area and day; others are thanked, nothing
    recorded."""

    def name(self) -> Text:
        return "action_patrol_all_clear"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        channel, sender_id = reporter(tracker)
        engine = store().engine
        if not patrol.on_patrol(engine, channel, sender_id):
            rider = records.get(engine, channel, sender_id)
            dispatcher.utter_message(response={"pending": "utter_patrol_all_clear_pending",
                                               "paused": "utter_volunteer_already_paused"}.get(
                                                   rider.status if rider else "", "utter_patrol_all_clear_guest"))
            return []
        area = patrol.patrol_area(engine, directory(), channel, sender_id, entity(tracker, "community"))
        recorded = patrol.record_all_clear(engine, get_policy().zone, channel, sender_id, area, store().clock())
        dispatcher.utter_message(response="utter_patrol_all_clear" if recorded else "utter_patrol_all_clear_again",
                                 area=area)
        return []


class ActionMyPoints(Action):
    """A rider's own month: reports that led to fixes and all-clear patrols."""

    def name(self) -> Text:
        return "action_my_points"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        engine, zone = store().engine, get_policy().zone
        rider = records.get(engine, *reporter(tracker))
        if rider is None:
            dispatcher.utter_message(response="utter_my_points_not_volunteer")
            return []
        first = points.parse_month(None, zone, store().clock())
        [found] = points.points(engine, zone, first, rider)
        dispatcher.utter_message(response="utter_my_points", name=rider.name, month=f"{first.month}月",
                                 fixed=found.fixed_reports, clear=found.all_clears)
        return []


class ActionVolunteerStatus(Action):
    """Tells a rider that staff approved them (nudges start) or paused their patrols."""

    def name(self) -> Text:
        return "action_volunteer_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        rider = records.get(store().engine, *reporter(tracker))
        if rider is None or rider.status != entity(tracker, "volunteer_status"):
            return []
        response = "utter_volunteer_approved" if rider.status == "active" else "utter_volunteer_paused"
        dispatcher.utter_message(response=response, name=rider.name, times="、".join(rider.nudge_times),
                                 areas="、".join(rider.areas))
        return []
