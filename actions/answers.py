"""Answers from the directory: who handles a building's problems, and how to reach its property company."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import directory, latest_intent
from actions.misunderstood import is_correction
from actions.status import ActionFallbackOptions
from bot.tickets.dispatch import dispatch


def _place(tracker: Tracker):
    community = directory().community_of(tracker.get_slot("community"))
    building = tracker.get_slot("building")
    return community, (directory().building(community, building) if community and building else None)


def _category(tracker: Tracker) -> Optional[str]:
    """The problem the question is about, when the message names one confidently ("漏水归谁管")."""
    guess = (tracker.latest_message or {}).get("category") or {}
    confident = guess.get("confidence", 0.0) >= directory().service.category_min_confidence
    return guess.get("name") if confident and guess.get("name") != "other" else None


def responsible_party(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    if asks_grid_worker(_text(tracker)):  # "网格员是谁": a person of the community, not the manager
        grid_workers(dispatcher, tracker)
        return
    community, building = _place(tracker)
    if not building:
        dispatcher.utter_message(response="utter_ask_building")
        return
    category = _category(tracker)
    routed = dispatch(directory(), category or "other", community, building.id)
    # The building's own facts decide the answer, whatever the question assumes ("我们楼没有物业"
    # about a managed building): who manages it is true for every problem of the building.
    if building.property_company:
        company = directory().property_company(building.property_company)
        dispatcher.utter_message(response="utter_responsible_property", community=community,
                                 building=building.id, company=company.name,
                                 hotline=company.hotline_text())
    elif building.owner_unit:
        dispatcher.utter_message(response="utter_responsible_owner_unit", community=community,
                                 building=building.id, owner_unit=building.owner_unit,
                                 office_phone=directory().find_community(community).office_phone)
    else:
        office = directory().find_community(community)
        dispatcher.utter_message(response="utter_responsible_unmanaged", community=community,
                                 building=building.id, office_phone=office.office_phone,
                                 office_hours=office.office_hours)
    if category and routed.handler_kind == "department":
        dispatcher.utter_message(response="utter_responsible_department",
                                 category=directory().service.categories[category].label,
                                 handler=routed.handler_name)


def _text(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""


def asks_grid_worker(text: str) -> bool:
    return any(word in text for word in directory().service.grid_worker_words)


def hotline_subject(tracker: Tracker) -> Optional[str]:
    """What a "电话多少" question is about when it is not the building's property company: a company
    it names ("首华物业电话多少") or the grid worker ("网格员电话多少")."""
    text = _text(tracker)
    if asks_grid_worker(text):
        return "grid"
    company = directory().company_named_in(text)
    return f"company:{company.name}" if company else None


def grid_workers(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """The directory's grid workers for the building (or the whole community while it is unknown)."""
    community = directory().community_of(tracker.get_slot("community"))
    found = directory().find_community(community)
    if not found:
        dispatcher.utter_message(response="utter_grid_workers_street", workers="\n".join(
            f"{c.name}：" + "；".join(f"{w['name']}（{w['grid']}）{w['phone']}" for w in c.grid_workers)
            for c in directory().communities if c.grid_workers), office_phone=directory().street_office_phone)
        return
    workers = directory().grid_workers_for(found.name, tracker.get_slot("building")) or \
        directory().grid_workers_for(found.name)
    if not workers:
        dispatcher.utter_message(response="utter_grid_workers_none", community=found.name,
                                 office_phone=found.office_phone)
        return
    dispatcher.utter_message(response="utter_grid_workers", community=found.name, workers="\n".join(
        f"{w['name']}（{w['grid']}）{w['phone']}" for w in workers))


def property_hotline(dispatcher: CollectingDispatcher, tracker: Tracker, subject: Optional[str] = None) -> None:
    subject = subject or hotline_subject(tracker)
    if subject == "grid":
        grid_workers(dispatcher, tracker)
        return
    if subject and subject.startswith("company:"):
        company = directory().property_company(subject.split(":", 1)[1])
        dispatcher.utter_message(response="utter_company_hotline", company=company.name,
                                 hotline=company.hotline_text())
        return
    community, building = _place(tracker)
    if not building:
        dispatcher.utter_message(response="utter_ask_building")
        return
    if not building.property_company:
        office = directory().find_community(community)
        dispatcher.utter_message(response="utter_hotline_unmanaged", community=community,
                                 building=building.id, office_phone=office.office_phone,
                                 office_hours=office.office_hours)
        return
    company = directory().property_company(building.property_company)
    dispatcher.utter_message(response="utter_property_hotline", company=company.name,
                             building=building.id, hotline=company.hotline_text())


#: Intents a side question may be read as: any of them naming the grid worker is about the grid worker.
_QUESTIONS = ("faq", "ask_responsible_party", "ask_property_hotline", "help", "nlu_fallback")


def answer_in_place(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Answers a side question asked in the middle of a form; True when it was one."""
    intent = latest_intent(tracker)
    if intent in _QUESTIONS and asks_grid_worker(_text(tracker)):  # "网格员是谁", however it was read
        grid_workers(dispatcher, tracker)
    elif intent == "faq":
        selector = ((tracker.latest_message or {}).get("response_selector") or {}).get("faq") or {}
        utter = (selector.get("response") or {}).get("utter_action")
        if utter:
            dispatcher.utter_message(response=utter)
    elif intent == "ask_responsible_party":
        responsible_party(dispatcher, tracker)
    elif intent == "ask_property_hotline":
        property_hotline(dispatcher, tracker)
    elif intent == "help":
        dispatcher.utter_message(response="utter_help_in_form")
    elif intent == "thank":
        dispatcher.utter_message(response="utter_thank_in_form")
    else:
        return False
    return True


async def stepped_aside(dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[Dict[Text, Any]]:
    """The resident said no to "which community?" (validate_*_form stepped out): "不对，我问的不是
    这个" means the question was misread, kept for the workbench and answered as a miss; any other
    no ("算了") is taken as it is."""
    if is_correction(tracker):
        return await ActionFallbackOptions().run(dispatcher, tracker, domain)
    dispatcher.utter_message(response="utter_question_dropped")
    return []


class ActionAnswerResponsibleParty(Action):
    def name(self) -> Text:
        return "action_answer_responsible_party"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        if latest_intent(tracker) == "deny":
            return [SlotSet("requested_slot", None), *await stepped_aside(dispatcher, tracker, domain)]
        responsible_party(dispatcher, tracker)
        return [SlotSet("requested_slot", None)]


class ActionAnswerPropertyHotline(Action):
    def name(self) -> Text:
        return "action_answer_property_hotline"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        done = [SlotSet("requested_slot", None), SlotSet("hotline_subject", None)]
        if latest_intent(tracker) == "deny":
            return [*done, *await stepped_aside(dispatcher, tracker, domain)]
        property_hotline(dispatcher, tracker, tracker.get_slot("hotline_subject"))
        return done
