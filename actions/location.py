"""Asking where: community and building (and unit, room) shared by every form that needs a place.

The same checks serve the complaint form and the who-handles-it / hotline questions, so a building
that is not in the directory is refused the same way everywhere.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.answers import hotline_subject
from actions.common import directory, latest_intent, mentioned
from bot.nlu.address import bare_number, normalize_digits

_MAX_UNIT = 30
#: The value of a unit or room the resident would rather not give ("不知道", "不用").
DECLINED = "declined"


def _requested(tracker: Tracker, slot: str) -> bool:
    return tracker.get_slot("requested_slot") == slot


def _text(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""


def declined(tracker: Tracker) -> bool:
    """A refusal with no number in it ("不用", "不知道门牌号", "房号就不说了"): the question is not
    asked again."""
    text = _text(tracker)
    if any(ch.isdigit() for ch in text):
        return False
    if names_the_field_asked(tracker) and any(w in text for w in ("不", "没", "算了", "免了")):
        return True
    return latest_intent(tracker) == "deny" or any(w in text for w in directory().service.decline_words)


def names_the_field_asked(tracker: Tracker) -> bool:
    """The answer names what was asked ("电话就算了", "房号不说了"): about that field alone."""
    words = directory().service.field_words.get(tracker.get_slot("requested_slot") or "", ())
    return any(w in _text(tracker) for w in words)


def room_said(text: str) -> str:
    """A room as residents write it ("是1202室", "六零一"), down to what should be its digits."""
    return normalize_digits(text).strip().removeprefix("是").rstrip("室号房").strip()


def is_room(value: str) -> bool:
    return value.isdigit() and 2 <= len(value) <= 5


class LocationValidation(FormValidationAction):
    """Community/building/unit/room extraction and checks against the directory."""

    @abstractmethod
    def name(self) -> Text:
        """Each form's validation action has its own name."""

    def location_slots(self, tracker: Tracker, needs: List[str]) -> List[str]:
        """The place slots to ask for: community only when the street has several."""
        slots = [] if directory().single_community() else ["community"]
        return slots + [s for s in ("building", "unit", "room") if s in needs]

    async def extract_community(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> Dict[Text, Any]:
        if _requested(tracker, "community"):
            found = directory().find_community(_text(tracker))
            if found:
                return {"community": found.name}
        return {}

    async def extract_building(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> Dict[Text, Any]:
        value = bare_number(_text(tracker)) if _requested(tracker, "building") else None
        return {"building": value} if value else {}

    async def extract_unit(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> Dict[Text, Any]:
        if not _requested(tracker, "unit"):
            return {}
        value = DECLINED if declined(tracker) else bare_number(_text(tracker))
        return {"unit": value} if value else {}

    async def extract_room(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> Dict[Text, Any]:
        if not _requested(tracker, "room"):
            return {}
        if declined(tracker):
            return {"room": DECLINED}
        digits = room_said(_text(tracker))
        return {"room": digits} if digits.isdigit() else {}

    def validate_community(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> Dict[Text, Any]:
        if value is None:  # cleared, not answered: nothing to refuse
            return {"community": None}
        found = directory().find_community(str(value))
        if not found:
            dispatcher.utter_message(response="utter_unknown_community",
                                     communities="、".join(c.name for c in directory().communities))
            return {"community": None}
        building = tracker.get_slot("building")
        if building and not directory().building(found.name, str(building)):
            dispatcher.utter_message(response="utter_unknown_building", community=found.name,
                                     building=building)
            return {"community": found.name, "building": None}
        return {"community": found.name}

    def validate_building(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                          domain: DomainDict) -> Dict[Text, Any]:
        building = bare_number(str(value or ""))
        community = directory().community_of(tracker.get_slot("community"))
        if not building:
            return {"building": None}
        if community and not directory().building(community, building):
            dispatcher.utter_message(response="utter_unknown_building", community=community,
                                     building=building)
            return {"building": None}
        return {"building": building}

    def validate_unit(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                      domain: DomainDict) -> Dict[Text, Any]:
        if value == DECLINED:
            return {"unit": DECLINED}
        unit = bare_number(str(value or ""))
        return {"unit": unit if unit and int(unit) <= _MAX_UNIT else None}

    def validate_room(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                      domain: DomainDict) -> Dict[Text, Any]:
        if value == DECLINED:
            return {"room": DECLINED}
        room = str(value or "").strip()
        return {"room": room if is_room(room) else None}


def stepped_out(tracker: Tracker) -> bool:
    """A "no" with no place in it while a question asks where ("不对，我问的不是这个", "算了"): the
    resident is not answering, so the question is not asked again (its answer action says why)."""
    return (latest_intent(tracker) == "deny" and not mentioned(tracker) & {"community", "building"}
            and not any(ch.isdigit() for ch in _text(tracker)))


class ValidateResponsibleForm(LocationValidation):
    def name(self) -> Text:
        return "validate_responsible_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        if tracker.get_slot("requested_slot") and stepped_out(tracker):
            return [SlotSet("requested_slot", None)]
        return await super().run(dispatcher, tracker, domain)

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        return self.location_slots(tracker, ["building"])


class ValidateHotlineForm(ValidateResponsibleForm):
    """A named company's numbers need no place; the grid worker needs the community (the building
    narrows it down when known); the building's property company needs the building."""

    def name(self) -> Text:
        return "validate_hotline_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        subject = tracker.get_slot("hotline_subject") or hotline_subject(tracker)
        tracker.slots["hotline_subject"] = subject
        return [SlotSet("hotline_subject", subject), *await super().run(dispatcher, tracker, domain)]

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        subject = tracker.get_slot("hotline_subject") or ""
        if subject.startswith("company:"):
            return []
        return self.location_slots(tracker, [] if subject == "grid" else ["building"])


class ActionAskCommunity(Action):
    """Offers the street's communities as buttons: residents tap rather than type the name."""

    def name(self) -> Text:
        return "action_ask_community"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        names = [c.name for c in directory().communities]
        dispatcher.utter_message(response="utter_ask_community",
                                 buttons=[{"title": n, "payload": n} for n in names])
        return []
