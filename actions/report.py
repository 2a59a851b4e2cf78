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
from actions.common import (
    directory,
    in_group,
    latest_intent,
    local_time,
    mentioned,
    message_metadata,
    once_per_request,
    reporter,
    store,
)
from actions.location import DECLINED, LocationValidation, declined, is_room, names_the_field_asked, room_said
from bot.channels.privacy import group_notice
from bot.core.text import words_only
from bot.nlu.address import normalize_phone
from bot.people import profiles
from bot.people.roles import role_of
from bot.privacy.masks import mask_phone, mask_text
from bot.tickets.dispatch import emergency_kind
from bot.tickets.errors import NoLongerOpen, TicketError
from bot.tickets.intake import intake_key
from bot.tickets.views import TicketView
from bot.volunteers import records

#: Why a report ended without a ticket -> what the resident is told.
_STOPPED_RESPONSES = {"cancelled": "utter_report_cancelled", "too_long": "utter_message_too_long"}
_CORRECTABLE = {"community", "building", "unit", "room", "phone", "category"}
_MAX_FAILED_ATTEMPTS = 2
#: Slots of one complaint, cleared once it is filed or dropped (the place and phone are kept, and
#: offered again rather than assumed when the next report starts).
REPORT_SLOTS = ("category", "description", "photos", "location", "report_confirmed",
                "report_summary", "report_stopped", "failed_attempts", "use_profile", "offered_place",
                "place_offer", "same_problem", "duplicate_of", "duplicate_summary", "emergency")
_PLACE_SLOTS = ("community", "building", "unit", "room")


def given(value: Any) -> Any:
    """A slot's value as filed: None when the resident declined to give it."""
    return None if value == DECLINED else value


def is_cancel(tracker: Tracker) -> bool:
    """A refusal that drops the whole report ("算了"), as opposed to "不对" that corrects it, or
    "电话就算了吧" that declines only the field asked."""
    if latest_intent(tracker) != "deny" or names_the_field_asked(tracker):
        return False
    text = (tracker.latest_message or {}).get("text") or ""
    return any(word in text for word in directory().service.cancel_words)


def _corrected(tracker: Tracker) -> bool:
    return bool(mentioned(tracker) & (_CORRECTABLE - {"category"}))


def is_rider(tracker: Tracker) -> bool:
    """Rider volunteers (流动吹哨人) report what they see on their rounds: the quick report."""
    return once_per_request(tracker, "role", lambda: role_of(*reporter(tracker))) == "volunteer"


def _stale_duplicate(tracker: Tracker) -> Dict[Text, Any]:
    """A ticket shown as maybe the same problem no longer fits when the answer moves the place
    ("不对，是6号楼", even read as a yes or no): the answer is dropped and the place looked up again."""
    moved = {"community", "building"} & set(tracker.slots_to_validate()) or message_metadata(tracker).get("location")
    if tracker.get_slot("requested_slot") == "same_problem" and moved:
        return {"duplicate_of": None, "duplicate_summary": None, "same_problem": None}
    return {}


def _other_place(tracker: Tracker) -> Dict[Text, Any]:
    """"还是福海园社区2号楼吗？" answered with another place ("槐荫里", "7号楼") is a no, and that
    place is taken as the answer."""
    said = mentioned(tracker)
    if tracker.get_slot("requested_slot") != "use_profile" or not said & {"community", "building"}:
        return {}
    offered = (tracker.get_slot("offered_place") or {}).get("community")
    if "community" not in said and directory().building(offered, tracker.get_slot("building")):
        return {"use_profile": False, "community": offered}  # "7号楼": another building, same community
    return {"use_profile": False}


def _emergency_of(tracker: Tracker) -> str | None:
    """The kind of emergency the report shows so far, if any (service.yml emergencies)."""
    said = tracker.get_slot("emergency") or {}
    return said.get("kind") or emergency_kind(directory(), tracker.get_slot("category"),
                                              tracker.get_slot("description"))


def _emergency_category(tracker: Tracker) -> str | None:
    """The category an emergency in the latest message's own words is filed under, if any."""
    kind = emergency_kind(directory(), None, (tracker.latest_message or {}).get("text"))
    return directory().service.emergencies[kind].category if kind else None


def _rider_slots(tracker: Tracker) -> List[Text]:
    """A rider's quick report: a photo and the place, then the problem if the words did not say it.
    A rider's own concern (小哥说事: gates, charging, rest) needs no photo, and a place only when the
    message named none."""
    # Once asked where, the answer is the place in the rider's words, whatever building it names.
    asked_where = tracker.get_slot("requested_slot") == "location"
    if tracker.get_slot("category") in directory().service.rider_own_categories:
        named = any(tracker.get_slot(s) for s in ("community", "building", "location"))
        return ["location"] if asked_where or not named else []
    place = ["building"] if tracker.get_slot("building") and not asked_where else ["location"]
    return ["photos", *place, "category"]


def _guess_from_words(tracker: Tracker) -> str | None:
    """Words that say something ("我们那个单元门的门锁坏了 一推就开") are filed under the best
    guess, or 其他, and staff correct it: asking "what is the problem?" after it was told loses
    people. A bare "我要报修" or "报告隐患" still gets the question."""
    text = words_only((tracker.latest_message or {}).get("text"))
    if not _starting(tracker) or len(text) < directory().service.guess_min_chars:
        return None
    guess = ((tracker.latest_message or {}).get("category") or {}).get("name")
    return guess if guess in directory().service.categories else "other"


def _community_of_location(tracker: Tracker, location: Dict[Text, Any]) -> List[Dict[Text, Any]]:
    """A map location shared inside a community's area (directory.yml ``area``) names the community,
    unless one was already said."""
    if tracker.get_slot("community") or location.get("latitude") is None or location.get("longitude") is None:
        return []
    try:
        found = directory().community_at(float(location["latitude"]), float(location["longitude"]))
    except (TypeError, ValueError):
        return []
    return [SlotSet("community", found.name)] if found else []


def _room_for_phone(dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[Text, Any]:
    """A room number said when the phone was asked ("1202") is the room: kept, said back, and the
    phone asked again. Set before validation, which keeps only the slots the form still asks."""
    if tracker.get_slot("requested_slot") != "phone" or given(tracker.get_slot("room")):
        return {}
    room = room_said((tracker.latest_message or {}).get("text") or "")
    if not is_room(room):
        return {}
    dispatcher.utter_message(response="utter_room_noted", room=room)
    return {"room": room}


def _starting(tracker: Tracker) -> bool:
    """The form's first turn: nothing has been asked yet (every later turn answers a question)."""
    return tracker.get_slot("requested_slot") is None


class ValidateReportForm(LocationValidation):
    def name(self) -> Text:
        return "validate_report_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        if is_cancel(tracker):
            return [SlotSet("report_stopped", "cancelled"), SlotSet("requested_slot", None)]
        if in_group(tracker):  # a complaint needs a room and a phone: never asked for in front of neighbours
            return [SlotSet("report_stopped", "private_chat"), SlotSet("requested_slot", None)]
        if len((tracker.latest_message or {}).get("text") or "") > directory().service.description_max_chars:
            return [SlotSet("report_stopped", "too_long"), SlotSet("requested_slot", None)]
        if latest_intent(tracker) == "request_human":
            return []  # nothing taken: the form steps aside and the rule hands over to a person
        # "不对，是1202室" corrects a field, whatever intent its digits look like: no side answer.
        answered = not _starting(tracker) and not _corrected(tracker) and answer_in_place(dispatcher, tracker)
        # The opening turn's changes go in as candidates (they replace the carried-over values Rasa
        # hands in for validation); a photo or place just sent is set before the next question is
        # chosen, so it counts, and returned as it is.
        early = self._fresh_start(tracker) if _starting(tracker) else {**_stale_duplicate(tracker),
                                                                        **_other_place(tracker),
                                                                        **_room_for_phone(dispatcher, tracker)}
        start = [SlotSet(name, value) for name, value in early.items()]
        tracker.add_slots(start)
        attachments = self._attachments(tracker)
        tracker.slots.update({e["name"]: e["value"] for e in attachments})
        events = start + await super().run(dispatcher, tracker, domain) + attachments
        events += self._count_attempt(dispatcher, tracker, events)
        events += self._emergency(dispatcher, tracker, events)
        if answered:  # a slot set keeps Rasa from rejecting the form, so no rule answers a second time
            events.append(SlotSet("failed_attempts", int(tracker.get_slot("failed_attempts") or 0)))
        return events + await self._prepare_question(dispatcher, tracker, domain, events)

    @staticmethod
    def _emergency(dispatcher: CollectingDispatcher, tracker: Tracker,
                   events: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
        """An emergency is answered the moment it is recognised, before any question: what to do
        now and whom to call; the building's 24-hour line follows as soon as the building is known."""
        slots = {**tracker.slots, **{e["name"]: e["value"] for e in events if e.get("event") == "slot"}}
        if slots.get("report_stopped"):
            return []
        said = dict(slots.get("emergency") or {})
        kind = said.get("kind") or emergency_kind(directory(), slots.get("category"), slots.get("description"))
        if not kind:
            return []
        if not said:
            dispatcher.utter_message(response=f"utter_emergency_{kind}")
            said = {"kind": kind}
        community = directory().community_of(slots.get("community"))
        building = directory().building(community, slots.get("building")) if community else None
        if building and not said.get("line"):
            _duty_line(dispatcher, building)
            said["line"] = True
        events = [SlotSet("emergency", said)] if said != slots.get("emergency") else []
        filed_as = directory().service.emergencies[kind].category
        if filed_as and slots.get("category") and slots["category"] != filed_as:
            events.append(SlotSet("category", filed_as))
        return events

    def _fresh_start(self, tracker: Tracker) -> Dict[Text, Any]:
        """A new report's place is the one its message names. A place remembered from before (an
        earlier report or question in this conversation, else the resident's profile) is offered
        ("还是…吗？"), never assumed; a building named without a community takes the remembered
        community when it has that building. Riders report where they are: nothing is offered, and
        the phone on their volunteer record is used."""
        said = mentioned(tracker)
        changes = {s: None for s in _PLACE_SLOTS if s not in said and tracker.get_slot(s) is not None}
        if is_rider(tracker):
            phone = tracker.get_slot("phone") or records.volunteer_phone(*reporter(tracker))
            return {**changes, "phone": phone} if phone else changes
        known = self._remembered_place(tracker, said)
        if known is None:
            return changes
        if "building" in said:
            if "community" not in said and directory().building(known.community, tracker.get_slot("building")):
                changes["community"] = known.community
            return changes
        if "community" in said and directory().community_of(tracker.get_slot("community")) != known.community:
            return changes
        return {**changes, "offered_place": {"community": known.community, "building": known.building},
                "place_offer": known.label}

    @staticmethod
    def _remembered_place(tracker: Tracker, said: set) -> profiles.Place | None:
        community = directory().community_of(tracker.get_slot("community"))
        building = tracker.get_slot("building")
        if community and building and not said & {"community", "building"}:
            return profiles.Place(community, building)
        return profiles.place_of(*reporter(tracker))

    async def _prepare_question(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
                                events: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
        """Fills the text of the question that comes next when it shows something found here: the
        confirmation (`report_summary`) or the open ticket that may be the same problem
        (`duplicate_summary`). They are templated responses: no second call to the action server."""
        slots = {**tracker.slots, **{e["name"]: e["value"] for e in events if e.get("event") == "slot"}}
        if slots.get("report_stopped"):
            return []
        required = await self.required_slots(self.domain_slots(domain), dispatcher, tracker, domain)
        upcoming = next((s for s in required if slots.get(s) is None), None)
        if upcoming == "report_confirmed":
            return [SlotSet("report_summary", report_summary(slots))]
        if upcoming == "same_problem" and not slots.get("duplicate_of"):
            ticket = self._duplicate(tracker)
            return [SlotSet("duplicate_of", ticket.id),
                    SlotSet("duplicate_summary", duplicate_summary(ticket))] if ticket else []
        return []

    @staticmethod
    def _duplicate(tracker: Tracker) -> TicketView | None:
        """The open ticket this report may repeat (same category, same building or close by)."""
        category, building = tracker.get_slot("category"), tracker.get_slot("building")
        community = directory().community_of(tracker.get_slot("community"))
        location = tracker.get_slot("location") or {}
        if not category or not ((community and building) or location):
            return None
        latitude, longitude = location.get("latitude"), location.get("longitude")

        def search() -> TicketView | None:
            found = store().find_duplicates(category, *reporter(tracker), community=community, building=building,
                                            latitude=latitude, longitude=longitude)
            return found[0] if found else None

        return once_per_request(tracker, ("duplicate", category, community, building, latitude, longitude), search)

    @staticmethod
    def _attachments(tracker: Tracker) -> List[Dict[Text, Any]]:
        """Photos and a map location sent by the channel ride along in message metadata."""
        metadata = message_metadata(tracker)
        events = []
        if metadata.get("photo"):
            events.append(SlotSet("photos", (tracker.get_slot("photos") or []) + [metadata["photo"]]))
        if metadata.get("location"):
            events.append(SlotSet("location", metadata["location"]))
            events += _community_of_location(tracker, metadata["location"])
        return events

    def _count_attempt(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                       events: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
        """Never drop a report for unclear answers: after the second in a row the draft so far is
        shown with the ways on (answer, correct a field, a person with the draft, or stop), and
        the question is asked again."""
        asked = tracker.get_slot("requested_slot")
        side_step = latest_intent(tracker) in directory().service.answered_in_place
        if not asked or side_step or self._attachments(tracker):
            return []
        # Another answer given instead (a room when the phone was asked, a phone for the room) is
        # progress too.
        filled = any(e.get("event") == "slot" and e.get("name") in (asked, *_PLACE_SLOTS, "phone")
                     and e.get("value") is not None for e in events)
        if filled:
            return [SlotSet("failed_attempts", 0)]
        failures = int(tracker.get_slot("failed_attempts") or 0) + 1
        if failures < _MAX_FAILED_ATTEMPTS:
            return [SlotSet("failed_attempts", failures)]
        slots = {**tracker.slots, **{e["name"]: e["value"] for e in events if e.get("event") == "slot"}}
        dispatcher.utter_message(response="utter_report_unclear", report_summary=report_summary(slots))
        return [SlotSet("failed_attempts", 0)]

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        """Residents: the problem, where (their usual place offered first), whether an open ticket
        is the same problem, the rest of the address (not for an emergency), phone, confirmation. Riders: photo and place
        first, then the problem, no unit or room. "Same problem" ends the form at once."""
        if tracker.get_slot("report_stopped"):
            return []
        if is_rider(tracker):
            before, after = _rider_slots(tracker), []
        else:
            category = tracker.get_slot("category")
            # An emergency needs only where to send someone: the rest is kept if said, never asked.
            needs = directory().location_needs(category) if category and not _emergency_of(tracker) else ["building"]
            place = self.location_slots(tracker, needs)
            where = [s for s in place if s in ("community", "building")]
            before, after = ["category", *self._offer(tracker), *where], [s for s in place if s not in where]
        if tracker.get_slot("same_problem"):
            return [*before, "same_problem"]
        return [*before, *self._same_problem(tracker), *after, "phone", "report_confirmed"]

    @staticmethod
    def _offer(tracker: Tracker) -> List[Text]:
        """The remembered place is asked about unless the resident has already named a building."""
        offered = tracker.get_slot("offered_place") and (
            tracker.get_slot("use_profile") is not None or tracker.get_slot("building") is None)
        return ["use_profile"] if offered else []

    def _same_problem(self, tracker: Tracker) -> List[Text]:
        if _emergency_of(tracker):  # help first: an emergency is never held up by a duplicate
            return []
        asked = tracker.get_slot("same_problem") is not None or tracker.get_slot("duplicate_of")
        return ["same_problem"] if asked or self._duplicate(tracker) else []

    def validate_use_profile(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> Dict[Text, Any]:
        """"Yes" fills community and building, if the directory still lists that building."""
        offered = tracker.get_slot("offered_place") or {}
        if value is True and directory().building(offered.get("community"), offered.get("building")):
            return {"use_profile": True, "community": offered["community"], "building": offered["building"]}
        return {"use_profile": False}

    def validate_same_problem(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> Dict[Text, Any]:
        return {"same_problem": value if isinstance(value, bool) else None}

    def validate_photos(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                        domain: DomainDict) -> Dict[Text, Any]:
        """At most as many photos as a ticket takes: the latest ones. Only file ids count: "没有照片"
        fills the slot through a from_intent mapping whose empty list Rasa hands over wrapped ([[]])."""
        limit = directory().service.photos_max
        return {"photos": [photo for photo in value or () if isinstance(photo, str) and photo][-limit:]}

    async def extract_photos(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> Dict[Text, Any]:
        """A photo is asked for once: whatever a rider answers instead ("照片没拍 急着送单", the
        place, "确认") means none, and the report moves on with what the answer said."""
        if tracker.get_slot("requested_slot") != "photos" or message_metadata(tracker).get("photo"):
            return {}
        return {"photos": tracker.get_slot("photos") or []}

    async def extract_location(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> Dict[Text, Any]:
        """A rider asked where may type it ("望园1号楼旁边的东门") instead of sending a map pin:
        the words are the place (a building they name fills the address as well)."""
        text = ((tracker.latest_message or {}).get("text") or "").strip()
        asked = tracker.get_slot("requested_slot")
        # Asked for a photo, "是望园东里北门" answers where as well (and means no photo).
        names_place = bool(directory().find_community(text)) or "building" in mentioned(tracker)
        if asked not in ("location", "photos") or (asked == "photos" and not names_place) \
                or message_metadata(tracker).get("location") or not text or latest_intent(tracker) in ("deny", "affirm"):
            return {}
        return {"location": {"label": text}}

    async def extract_category(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> Dict[Text, Any]:
        """The answer to "what is the problem?" names it, whatever intent it was read as."""
        if tracker.get_slot("requested_slot") != "category":
            return {}
        guess = (tracker.latest_message or {}).get("category") or {}
        text = (tracker.latest_message or {}).get("text") or ""
        return {"category": guess.get("name")} if guess and text.strip() else {}

    def validate_category(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                          domain: DomainDict) -> Dict[Text, Any]:
        """A bare "我要报修" (or a photo alone) names no problem yet: ask what it is rather than
        guess. The answer to that question is the description (set here: validation keeps only
        what validators return)."""
        guess = (tracker.latest_message or {}).get("category") or {}
        vague = guess.get("confidence", 1.0) < directory().service.category_min_confidence
        if value not in directory().service.categories or vague:
            # "一楼着火了！！" names its problem by its words; words that say enough are taken as said
            value = _emergency_category(tracker) or _guess_from_words(tracker)
            if not value:
                return {"category": None, "description": None}
        if tracker.get_slot("requested_slot") == "category":
            return {"category": value, "description": (tracker.latest_message or {}).get("text")}
        return {"category": value}

    async def extract_phone(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                            domain: DomainDict) -> Dict[Text, Any]:
        """At the phone question a refusal in words ("不想留电话 怕被报复") declines; in an
        emergency anything but a number ("确认 赶紧派人") does too: help is never held up for a phone."""
        if tracker.get_slot("requested_slot") != "phone" or "phone" in mentioned(tracker):
            return {}
        text = (tracker.latest_message or {}).get("text") or ""
        if declined(tracker) or (_emergency_of(tracker) and not any(ch.isdigit() for ch in text)):
            return {"phone": DECLINED}
        return {}

    async def extract_report_confirmed(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: DomainDict) -> Dict[Text, Any]:
        """A yes with more said after it ("对 快派人", "确认，赶紧来人") is a yes, unless it changes
        a field or asks something (service.yml confirm_words)."""
        if tracker.get_slot("requested_slot") != "report_confirmed" or latest_intent(tracker) == "deny":
            return {}
        text = ((tracker.latest_message or {}).get("text") or "").strip()
        if _corrected(tracker) or any(mark in text for mark in ("吗", "?", "？", "不")):
            return {}
        said_yes = any(text.startswith(word) for word in directory().service.confirm_words)
        return {"report_confirmed": True} if said_yes else {}

    def validate_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                       domain: DomainDict) -> Dict[Text, Any]:
        if value == DECLINED:
            return {"phone": DECLINED}
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


def report_summary(slots: Dict[Text, Any]) -> str:
    """What will be filed, for the reporter to check: the room as said (the form never runs in a
    group chat), the phone masked as everywhere it is shown."""
    category = directory().service.categories.get(slots.get("category") or "")
    place = [directory().community_of(slots.get("community")) or ""]
    if slots.get("building"):
        place.append(f"{slots['building']}号楼")
    if given(slots.get("unit")):
        place.append(f"{slots['unit']}单元")
    if given(slots.get("room")):
        place.append(f"{slots['room']}室")  # their own room, for them to check: never in a group
    label = (slots.get("location") or {}).get("label")
    if label and not slots.get("building"):  # "望园东里北门" says more than the community alone
        place.append(label)
    elif not any(place) and slots.get("location"):
        place = ["已收到您发的位置"]
    lines = [f"问题：{category.label if category else '还没说清'}", f"地点：{' '.join(p for p in place if p) or '还没说'}",
             f"描述：{_short(mask_text(slots.get('description') or ''))}"]
    phone = slots.get("phone")
    lines.append(f"电话：{mask_phone(phone) if given(phone) else '未留'}")
    if slots.get("photos"):
        lines.append(f"照片：{len(slots['photos'])}张")
    return "\n".join(lines)


def draft_of(tracker: Tracker) -> Dict[Text, Any]:
    """A report begun and not filed, for the person it is handed to ("转人工" mid-form): its
    summary as a note, and the events that clear it. Empty when there is none."""
    if not (tracker.get_slot("category") or tracker.get_slot("description")):
        return {}
    return {"note": "登记到一半的诉求：\n" + report_summary(tracker.slots),
            "reset": [SlotSet(slot, None) for slot in REPORT_SLOTS] + [SlotSet("failed_attempts", 0)]}


def duplicate_summary(ticket: TicketView) -> str:
    """Another resident's open ticket shown as maybe the same problem: only its category, building,
    status and date; never its words, its number or who reported it (the resident sees the ticket
    once they join it)."""
    service = directory().service
    where = f"{ticket.building}号楼" if ticket.building else "附近"
    label, status = service.categories[ticket.category].label, service.status_labels.get(ticket.status, ticket.status)
    return "\n".join([f"{where}已经有人报过类似的问题：",
                      f"{local_time(ticket.created_at)[:-5]}报的{label}，{status}"])


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
        if tracker.get_slot("same_problem") and tracker.get_slot("duplicate_of") and not stopped:
            followed = _follow(dispatcher, tracker)
            if followed:
                return reset + [SlotSet("ticket_id", followed.id)]
        elif stopped == "private_chat":
            dispatcher.utter_message(text=group_notice(message_metadata(tracker).get("private_link")))
            return reset
        elif stopped or not tracker.get_slot("report_confirmed"):
            dispatcher.utter_message(response=_STOPPED_RESPONSES.get(stopped, "utter_report_cancelled"),
                                     max_chars=directory().service.description_max_chars, **_office(tracker))
            return reset
        try:
            ticket = store().create(**_ticket_fields(tracker), intake_key=intake_key(tracker.events, "report_form"))
        except TicketError as error:
            dispatcher.utter_message(text=error.user_message)
            return reset
        _remember_place(tracker)
        dispatcher.utter_message(response="utter_ticket_created", ticket_id=ticket.id,
                                 handler=ticket.handler_name, deadline=local_time(ticket.deadline))
        return reset + [SlotSet("ticket_id", ticket.id)]


def _follow(dispatcher: CollectingDispatcher, tracker: Tracker) -> TicketView | None:
    """"Same problem": the sender follows the open ticket. None (after saying so) when it has
    closed since it was shown; the report is then filed on its own."""
    try:
        ticket = store().follow(tracker.get_slot("duplicate_of"), *reporter(tracker))
    except NoLongerOpen as error:
        dispatcher.utter_message(text=error.user_message)
        return None
    _remember_place(tracker)
    if in_group(tracker):
        dispatcher.utter_message(response="utter_following_group")
    else:
        dispatcher.utter_message(response="utter_following", ticket_id=ticket.id, count=ticket.followers + 1)
    return ticket


def _remember_place(tracker: Tracker) -> None:
    """A resident's community and building, offered again next time (a rider's are not theirs)."""
    community = directory().community_of(tracker.get_slot("community"))
    building = tracker.get_slot("building")
    if community and building and not is_rider(tracker):
        profiles.remember_place(*reporter(tracker), profiles.Place(community, building))


def _duty_line(dispatcher: CollectingDispatcher, building) -> None:
    """The number that answers at any hour: the property company's control room (中控室), else the
    community office with 12345 for the night."""
    company = directory().property_company(building.property_company) if building.property_company else None
    room = next((h for h in company.hotlines if h.kind == "control_room"), None) if company else None
    if room:
        dispatcher.utter_message(response="utter_emergency_line_property", company=company.name, number=room.number)
        return
    office = directory().find_community(building.community)
    dispatcher.utter_message(response="utter_emergency_line_community", community=office.name,
                             building=building.id, office_phone=office.office_phone,
                             office_hours=office.office_hours)


def _office(tracker: Tracker) -> Dict[str, str]:
    name = directory().community_of(tracker.get_slot("community"))
    community = directory().find_community(name or "") or directory().communities[0]
    return {"office": community.name, "office_phone": community.office_phone}


def _ticket_fields(tracker: Tracker) -> Dict[str, Any]:
    channel, sender_id = reporter(tracker)
    location = tracker.get_slot("location") or {}
    phone = tracker.get_slot("phone")
    label = location.get("label")
    description = tracker.get_slot("description") or ""
    if label and label not in description:  # a place typed in reply: the handler needs it too
        description = f"{description}（位置：{label}）"
    return {
        "category": tracker.get_slot("category"),
        "description": description,
        "community": directory().community_of(tracker.get_slot("community")),
        "building": tracker.get_slot("building"),
        "unit": given(tracker.get_slot("unit")),
        "room": given(tracker.get_slot("room")),
        "phone": given(phone),
        "photos": tuple(tracker.get_slot("photos") or ()),
        "latitude": location.get("latitude"),
        "longitude": location.get("longitude"),
        "reporter_channel": channel,
        "reporter_id": sender_id,
        "source": "volunteer" if is_rider(tracker) else "resident",
    }
