"""Complaint intake: the report form, its confirmation and the ticket it creates.

The form takes whatever the first message already said, asks only for what is missing, and lets
the resident cancel ("算了"), correct a field ("不对，是6号楼") or ask a question in between.
A question asked mid-form is answered here, in place, and the form simply asks its question again,
so every interruption needs no rule of its own.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.answers import answer_in_place
from actions.common import directory, in_group, latest_intent, local_time, message_metadata, reporter, store
from actions.location import LocationValidation
from bot.nlu.address import normalize_phone
from bot.tickets import TicketError, mask_phone, mask_room, mask_text

#: Why a report ended without a ticket -> what the resident is told.
_STOPPED_RESPONSES = {"cancelled": "utter_report_cancelled", "stuck": "utter_report_stuck",
                      "too_long": "utter_message_too_long"}
_CORRECTABLE = {"community", "building", "unit", "room", "phone", "category"}
_MAX_FAILED_ATTEMPTS = 2
#: Slots of one complaint, cleared once it is filed or dropped (the place and phone are kept).
REPORT_SLOTS = ("category", "description", "photos", "location", "report_confirmed",
                "report_summary", "report_stopped", "failed_attempts")


def is_cancel(tracker: Tracker) -> bool:
    """A refusal that drops the whole report ("算了"), as opposed to "不对" that corrects it."""
    if latest_intent(tracker) != "deny":
        return False
    text = (tracker.latest_message or {}).get("text") or ""
    return any(word in text for word in directory().service.cancel_words)


def _corrected(tracker: Tracker) -> bool:
    entities = (tracker.latest_message or {}).get("entities") or []
    return any(e.get("entity") in _CORRECTABLE - {"category"} for e in entities)


class ValidateReportForm(LocationValidation):
    def name(self) -> Text:
        return "validate_report_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        if is_cancel(tracker):
            return [SlotSet("report_stopped", "cancelled"), SlotSet("requested_slot", None)]
        if len((tracker.latest_message or {}).get("text") or "") > directory().service.description_max_chars:
            return [SlotSet("report_stopped", "too_long"), SlotSet("requested_slot", None)]
        answer_in_place(dispatcher, tracker)
        events = await super().run(dispatcher, tracker, domain) + self._attachments(tracker)
        events += self._count_attempt(dispatcher, tracker, events)
        return events + await self._summary(dispatcher, tracker, domain, events)

    async def _summary(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
                       events: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
        """Fills `report_summary` when the confirmation comes next, for `utter_ask_report_confirmed`
        (a templated response: no second call to the action server on that turn)."""
        slots = {**tracker.slots, **{e["name"]: e["value"] for e in events if e.get("event") == "slot"}}
        if slots.get("report_stopped"):
            return []
        required = await self.required_slots(self.domain_slots(domain), dispatcher, tracker, domain)
        if next((s for s in required if slots.get(s) is None), None) != "report_confirmed":
            return []
        return [SlotSet("report_summary", report_summary(slots, private=not in_group(tracker)))]

    @staticmethod
    def _attachments(tracker: Tracker) -> List[Dict[Text, Any]]:
        """Photos and a map location sent by the channel ride along in message metadata."""
        metadata = message_metadata(tracker)
        events = []
        if metadata.get("photo"):
            events.append(SlotSet("photos", (tracker.get_slot("photos") or []) + [metadata["photo"]]))
        if metadata.get("location"):
            events.append(SlotSet("location", metadata["location"]))
        return events

    def _count_attempt(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                       events: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
        """Never ask the same question more than twice: after that, stop and offer a person."""
        asked = tracker.get_slot("requested_slot")
        side_step = latest_intent(tracker) in directory().service.answered_in_place
        if not asked or side_step or self._attachments(tracker):
            return []
        filled = any(e.get("event") == "slot" and e.get("name") == asked and e.get("value") is not None
                     for e in events)
        if filled:
            return [SlotSet("failed_attempts", 0)]
        failures = int(tracker.get_slot("failed_attempts") or 0) + 1
        if failures < _MAX_FAILED_ATTEMPTS:
            return [SlotSet("failed_attempts", failures)]
        return [SlotSet("report_stopped", "stuck"), SlotSet("requested_slot", None)]

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        if tracker.get_slot("report_stopped"):
            return []
        category = tracker.get_slot("category")
        needs = directory().location_needs(category) if category else ["building"]
        return ["category"] + self.location_slots(tracker, needs) + ["phone", "report_confirmed"]

    async def extract_category(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> Dict[Text, Any]:
        """The answer to "what is the problem?" describes it, whatever intent it was read as."""
        if tracker.get_slot("requested_slot") != "category":
            return {}
        guess = (tracker.latest_message or {}).get("category") or {}
        text = (tracker.latest_message or {}).get("text") or ""
        return {"category": guess.get("name"), "description": text} if guess and text.strip() else {}

    def validate_category(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                          domain: DomainDict) -> Dict[Text, Any]:
        """A bare "我要报修" names no problem yet: ask what it is rather than guess."""
        guess = (tracker.latest_message or {}).get("category") or {}
        vague = guess.get("confidence", 1.0) < directory().service.category_min_confidence
        if value not in directory().service.categories or vague:
            return {"category": None, "description": None}
        return {"category": value}

    def validate_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                       domain: DomainDict) -> Dict[Text, Any]:
        if value == "declined":
            return {"phone": "declined"}
        phone = normalize_phone(str(value or ""))
        if not phone:
            dispatcher.utter_message(response="utter_invalid_phone")
        return {"phone": phone}

    def validate_report_confirmed(self, value: Any, dispatcher: CollectingDispatcher,
                                  tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        if value is True:
            return {"report_confirmed": True}
        if not _corrected(tracker):
            dispatcher.utter_message(response="utter_ask_what_to_fix")
        return {"report_confirmed": None}


def report_summary(slots: Dict[Text, Any], private: bool) -> str:
    """What will be filed, phone and room masked; in a group nothing personal at all."""
    category = directory().service.categories[slots["category"]]
    place = [directory().community_of(slots.get("community")) or ""]
    if slots.get("building"):
        place.append(f"{slots['building']}号楼")
    if slots.get("unit"):
        place.append(f"{slots['unit']}单元")
    if private and slots.get("room"):
        place.append(f"{mask_room(slots['room'])}室")
    lines = [f"问题：{category.label}", f"地点：{' '.join(p for p in place if p)}",
             f"描述：{_short(mask_text(slots.get('description') or ''))}"]
    phone = slots.get("phone")
    if private:
        lines.append(f"电话：{mask_phone(phone) if phone and phone != 'declined' else '未留'}")
    if slots.get("photos"):
        lines.append(f"照片：{len(slots['photos'])}张")
    return "\n".join(lines)


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


class ActionSubmitReport(Action):
    """Files the confirmed report as a ticket, or says why nothing was filed."""

    def name(self) -> Text:
        return "action_submit_report"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        reset = [SlotSet(slot, None) for slot in REPORT_SLOTS] + [SlotSet("failed_attempts", 0)]
        stopped = tracker.get_slot("report_stopped")
        if stopped or not tracker.get_slot("report_confirmed"):
            dispatcher.utter_message(response=_STOPPED_RESPONSES.get(stopped, "utter_report_cancelled"),
                                     max_chars=directory().service.description_max_chars, **_office(tracker))
            return reset
        try:
            ticket = store().create(**_ticket_fields(tracker))
        except TicketError as error:
            dispatcher.utter_message(text=error.user_message)
            return reset
        response = "utter_ticket_created_group" if in_group(tracker) else "utter_ticket_created"
        dispatcher.utter_message(response=response, ticket_id=ticket.id,
                                 handler=ticket.handler_name, deadline=local_time(ticket.deadline))
        return reset + [SlotSet("ticket_id", ticket.id)]


def _office(tracker: Tracker) -> Dict[str, str]:
    name = directory().community_of(tracker.get_slot("community"))
    community = directory().find_community(name or "") or directory().communities[0]
    return {"office": community.name, "office_phone": community.office_phone}


def _ticket_fields(tracker: Tracker) -> Dict[str, Any]:
    channel, sender_id = reporter(tracker)
    location = tracker.get_slot("location") or {}
    phone = tracker.get_slot("phone")
    return {
        "category": tracker.get_slot("category"),
        "description": tracker.get_slot("description") or "",
        "community": directory().community_of(tracker.get_slot("community")),
        "building": tracker.get_slot("building"),
        "unit": tracker.get_slot("unit"),
        "room": tracker.get_slot("room"),
        "phone": phone if phone and phone != "declined" else None,
        "photos": tuple(tracker.get_slot("photos") or ()),
        "latitude": location.get("latitude"),
        "longitude": location.get("longitude"),
        "reporter_channel": channel,
        "reporter_id": sender_id,
        "source": "volunteer" if message_metadata(tracker).get("role") == "volunteer" else "resident",
    }
